#!/bin/sh
# Renders the configuration into the instance's etc folder (astetcdir) with the ARI
# password from a secret file, prepares the folders Asterisk needs (the recording
# folder must exist, owned by asterisk, not world-readable), then runs Asterisk in the
# foreground as the asterisk user.
set -eu
INSTANCE=/var/lib/reccontrol-asterisk
/opt/reccontrol/bin/reccontrol sandbox render --out "$INSTANCE/etc" \
    --instance-dir "$INSTANCE" --http-port "${ARI_PORT:-8088}" --sip-port "${SIP_PORT:-5060}" \
    --ari-password-file "${ARI_PASSWORD_FILE:-/run/secrets/ari_password}"
for sub in lib db spool spool/recording run log cache sounds; do
    install -d -o asterisk -g asterisk -m 0750 "$INSTANCE/$sub"
done
chgrp -R asterisk "$INSTANCE/etc"
umask 027
exec asterisk -C "$INSTANCE/etc/asterisk.conf" -f -n -U asterisk -G asterisk
