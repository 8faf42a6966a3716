#!/bin/sh
# Renders the configuration into the instance's etc folder (astetcdir) with the ARI
# password from a secret file, prepares the folders Asterisk needs, then runs Asterisk
# in the foreground as the asterisk user.
#
# The recording folder is shared with the daemon's container: 2770 asterisk:asterisk,
# so only Asterisk and the daemon (a member of the asterisk group) can list it, new
# files keep the asterisk group, and the daemon can remove a file once it holds its
# own copy. With umask 027 Asterisk writes each recording 0640: nobody else reads it.
set -eu
INSTANCE=/var/lib/reccontrol-asterisk
# The renderer is the sandbox's, which the installed package leaves out: run from the
# source tree the image keeps in /src.
PYTHONPATH=/src /opt/reccontrol/bin/python -m controller sandbox render --out "$INSTANCE/etc" \
    --instance-dir "$INSTANCE" --http-port "${ARI_PORT:-8088}" --sip-port "${SIP_PORT:-5060}" \
    --ari-password-file "${ARI_PASSWORD_FILE:-/run/secrets/ari_password}"
for sub in lib db spool run log cache sounds; do
    install -d -o asterisk -g asterisk -m 0750 "$INSTANCE/$sub"
done
install -d -o asterisk -g asterisk -m 2770 "$INSTANCE/spool/recording"
chgrp -R asterisk "$INSTANCE/etc"
umask 027
exec asterisk -C "$INSTANCE/etc/asterisk.conf" -f -n -U asterisk -G asterisk
