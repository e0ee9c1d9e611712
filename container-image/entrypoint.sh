#!/bin/sh
# PID 1 of a VaporForge login container.
#
# The worker does not run the login command as PID 1: it creates the container,
# then execs the CLI (and later `cat` for the credentials file) into it, each exec
# with its own TTY. This script only keeps the container alive meanwhile, and no
# longer than the session's deadline: with VF_EXPIRES_AT (epoch seconds) set, it
# exits at that time, which ends every process in the container, and a container
# created with auto-remove then disappears even if the worker died.
# With arguments it runs them instead (`docker run IMAGE claude --version`).
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

trap 'exit 0' TERM INT HUP

if [ -n "${VF_EXPIRES_AT:-}" ]; then
    left=$(( VF_EXPIRES_AT - $(date +%s) ))
    [ "$left" -gt 0 ] || exit 0
    sleep "$left" &
else
    sleep infinity &
fi
# `wait` returns at once when a trapped signal arrives; sleep dies with the container.
wait "$!" || true
