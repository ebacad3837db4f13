#!/usr/bin/env bash
# Installs or removes oxporter exporters as systemd services, in one command:
#
#   sudo deploy/install.sh install node                 # binary built by scripts/build-release (or cargo build --release)
#   sudo deploy/install.sh install all --from DIR       # every exporter, binaries from DIR/oxporter-<name>
#   sudo deploy/install.sh install node --from PATH/oxporter-node
#   sudo deploy/install.sh remove node                  # stop, disable, delete what install laid down
#   sudo deploy/install.sh remove all --purge           # also your settings, the textfile directory, the user
#
# Run it again at any time: it only changes what differs, and restarts a running service whose binary or unit
# changed. It says what it did and what it skipped. Options (also as environment variables):
#
#   --from PATH       binary (one exporter) or directory holding oxporter-<name> binaries
#   --prefix DIR      PREFIX, where bin/ goes (default /usr/local); the unit's ExecStart follows it
#   --destdir DIR     DESTDIR, stage everything below DIR instead of / (packaging, tests): no user is created and
#                     systemctl is not called, so this works unprivileged and without systemd
#   --no-start        install files and enable nothing (systemctl is not called)
#   --purge           (remove) also delete /etc/default/oxporter-<name> when you changed it, systemctl edit
#                     drop-ins, the exporter's data directories, and user oxporter once no exporter is left
#
# The exporters it knows are those with a unit file deploy/systemd/oxporter-<name>.service beside this script.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
UNIT_SRC="$HERE/systemd"
DEFAULT_SRC="$HERE/default"

SERVICE_USER=oxporter
PREFIX="${PREFIX:-/usr/local}"
DESTDIR="${DESTDIR:-}"
FROM=""
NO_START=0
PURGE=0

usage() {
  echo "Usage: install.sh install|remove <exporter>...|all [--from PATH] [--prefix DIR] [--destdir DIR] [--no-start] [--purge]"
  echo
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  echo "Exporters here: $(known_exporters | tr '\n' ' ')"
}
die() {
  echo "install.sh: error: $*" >&2
  exit 1
}
# One line per action, aligned: what happened, to what, and why when it is not obvious.
say() { printf '  %-10s %s\n' "$1" "$2"; }

known_exporters() {
  local f
  for f in "$UNIT_SRC"/oxporter-*.service; do
    [ -e "$f" ] || continue
    f="${f##*/oxporter-}"
    echo "${f%.service}"
  done
}

# Directories an exporter reads that install creates for you (root-owned, world-readable: other jobs write there,
# the exporter only reads). Add a case for your exporter.
data_dirs() {
  case "$1" in
  node) echo /var/lib/oxporter/textfile ;;
  esac
}

# --- arguments ---------------------------------------------------------------------------------------------------
[ $# -ge 1 ] || {
  usage
  exit 2
}
ACTION="$1"
shift
case "$ACTION" in
install | remove) ;;
-h | --help | help)
  usage
  exit 0
  ;;
*) die "unknown action '$ACTION' (install or remove; --help for more)" ;;
esac

NAMES=()
while [ $# -gt 0 ]; do
  case "$1" in
  --from) FROM="${2:?--from needs a path}"; shift ;;
  --from=*) FROM="${1#--from=}" ;;
  --prefix) PREFIX="${2:?--prefix needs a directory}"; shift ;;
  --prefix=*) PREFIX="${1#--prefix=}" ;;
  --destdir) DESTDIR="${2:?--destdir needs a directory}"; shift ;;
  --destdir=*) DESTDIR="${1#--destdir=}" ;;
  --no-start) NO_START=1 ;;
  --purge) PURGE=1 ;;
  -h | --help) usage; exit 0 ;;
  -*) die "unknown option '$1' (--help for the list)" ;;
  all) mapfile -t -O "${#NAMES[@]}" NAMES < <(known_exporters) ;;
  *) NAMES+=("$1") ;;
  esac
  shift
done
[ ${#NAMES[@]} -gt 0 ] || die "name an exporter ($(known_exporters | tr '\n' ' ')) or 'all'"
for n in "${NAMES[@]}"; do
  [ -f "$UNIT_SRC/oxporter-$n.service" ] || die "unknown exporter '$n': no $UNIT_SRC/oxporter-$n.service"
done
mapfile -t NAMES < <(printf '%s\n' "${NAMES[@]}" | awk '!seen[$0]++')
case "$PREFIX" in /*) ;; *) die "--prefix must be an absolute path, not '$PREFIX'" ;; esac
PREFIX="${PREFIX%/}"
DESTDIR="${DESTDIR%/}"
if [ -n "$DESTDIR" ]; then
  mkdir -p "$DESTDIR"
  DESTDIR="$(cd "$DESTDIR" && pwd)"
elif [ "$(id -u)" -ne 0 ]; then
  die "changing this system needs root: run with sudo, or pass --destdir DIR to stage the files into DIR"
fi

BIN_DIR="$PREFIX/bin"
UNIT_DIR=/etc/systemd/system
ENV_DIR=/etc/default

# Whether to call systemctl, and if not, why not (printed once per exporter).
SYSTEMD_SKIP=""
if [ -n "$DESTDIR" ]; then
  SYSTEMD_SKIP="DESTDIR is set (files are staged, this system is left alone)"
elif [ "$NO_START" -eq 1 ]; then
  SYSTEMD_SKIP="--no-start was given"
elif [ ! -d /run/systemd/system ]; then
  SYSTEMD_SKIP="systemd is not running on this machine (/run/systemd/system is missing)"
elif ! command -v systemctl >/dev/null 2>&1; then
  SYSTEMD_SKIP="systemctl is not installed"
fi

# --- install -----------------------------------------------------------------------------------------------------
# The binary for exporter $1, or "" when none is found.
find_binary() {
  local name="oxporter-$1" c
  if [ -n "$FROM" ]; then
    if [ -d "$FROM" ]; then
      echo "$FROM/$name"
    else
      echo "$FROM"
    fi
    return
  fi
  # scripts/build-release puts the shipped (static) binaries under <target dir>/<host triple>/release, a plain
  # `cargo build --release` under <target dir>/release: of those present, the most recently built wins.
  local dir best=""
  for dir in ${CARGO_TARGET_DIR:+"$CARGO_TARGET_DIR"} "$REPO/target" "${XDG_CACHE_HOME:-$HOME/.cache}/oxporter/target"; do
    for c in "$dir"/*-linux-*/release/"$name" "$dir/release/$name"; do
      if [ -x "$c" ] && { [ -z "$best" ] || [ "$c" -nt "$best" ]; }; then
        best="$c"
      fi
    done
    if [ -n "$best" ]; then
      echo "$best"
      return
    fi
  done
}

# Copies $1 to $2 with mode $3 unless identical; prints what happened. Returns 0 when the file changed.
# Written beside the target and renamed over it, so a running binary is replaced, never half-written.
put_file() {
  local src="$1" dst="$2" mode="$3"
  if [ -f "$dst" ] && cmp -s "$src" "$dst"; then
    chmod "$mode" "$dst"
    say unchanged "$dst"
    return 1
  fi
  local verb=installed
  [ -e "$dst" ] && verb=updated
  mkdir -p "$(dirname "$dst")"
  cp "$src" "$dst.oxporter-new"
  chmod "$mode" "$dst.oxporter-new"
  mv -f "$dst.oxporter-new" "$dst"
  say "$verb" "$dst"
  return 0
}

ensure_user() {
  if [ -n "$DESTDIR" ]; then
    say skipped "creating user $SERVICE_USER: DESTDIR is set (this system's users are left alone)"
    return
  fi
  if getent passwd "$SERVICE_USER" >/dev/null; then
    say unchanged "user $SERVICE_USER"
    return
  fi
  local nologin
  nologin="$(command -v nologin || echo /bin/false)"
  getent group "$SERVICE_USER" >/dev/null || groupadd --system "$SERVICE_USER"
  useradd --system --gid "$SERVICE_USER" --no-create-home --home-dir /nonexistent --shell "$nologin" \
    --comment "oxporter Prometheus exporters" "$SERVICE_USER"
  say created "user $SERVICE_USER (system user, no login, no home)"
}

install_one() {
  local name="$1" svc="oxporter-$1"
  local bin="$2"
  echo "$svc:"
  ensure_user

  local changed=0
  put_file "$bin" "$DESTDIR$BIN_DIR/$svc" 0755 && changed=1

  # The unit names /usr/local/bin; follow --prefix.
  local unit_tmp
  unit_tmp="$(mktemp)"
  sed "s#^ExecStart=/usr/local/bin/#ExecStart=$BIN_DIR/#" "$UNIT_SRC/$svc.service" >"$unit_tmp"
  put_file "$unit_tmp" "$DESTDIR$UNIT_DIR/$svc.service" 0644 && changed=1
  rm -f "$unit_tmp"

  # Your settings: written once, never overwritten. Only systemd (root) reads it, so it may hold secrets.
  local env="$DESTDIR$ENV_DIR/$svc"
  if [ -e "$env" ]; then
    say kept "$env (exists: your settings are not overwritten)"
  elif [ -f "$DEFAULT_SRC/$svc" ]; then
    put_file "$DEFAULT_SRC/$svc" "$env" 0600 || true
  fi

  local d
  for d in $(data_dirs "$name"); do
    if [ -d "$DESTDIR$d" ]; then
      say unchanged "$DESTDIR$d/"
    else
      mkdir -p "$DESTDIR$d"
      chmod 0755 "$DESTDIR$d"
      say created "$DESTDIR$d/"
    fi
  done

  if [ -n "$SYSTEMD_SKIP" ]; then
    say skipped "systemctl daemon-reload, enable, start: $SYSTEMD_SKIP"
    if [ -z "$DESTDIR" ]; then
      say "" "to run it by hand: sudo -u $SERVICE_USER $BIN_DIR/$svc \$ARGS  (ARGS from $ENV_DIR/$svc)"
    fi
    return
  fi
  systemctl daemon-reload
  if systemctl is-enabled --quiet "$svc" 2>/dev/null; then
    say unchanged "enabled $svc.service"
  else
    systemctl enable --quiet "$svc"
    say enabled "$svc.service (starts at boot)"
  fi
  if systemctl is-active --quiet "$svc"; then
    if [ "$changed" -eq 1 ]; then
      systemctl restart "$svc"
      say restarted "$svc.service (binary or unit changed)"
    else
      say unchanged "$svc.service is running"
    fi
  else
    systemctl start "$svc" || true
    say started "$svc.service"
  fi
  sleep 1
  if ! systemctl is-active --quiet "$svc"; then
    echo "install.sh: $svc.service is not running; its last log lines:" >&2
    journalctl -u "$svc" -n 20 --no-pager >&2 || true
    FAILED=1
  fi
}

# --- remove ------------------------------------------------------------------------------------------------------
remove_path() {
  if [ -e "$1" ] || [ -L "$1" ]; then
    rm -rf "$1"
    say removed "$1"
  fi
}

remove_one() {
  local name="$1" svc="oxporter-$1"
  echo "$svc:"
  if [ -n "$SYSTEMD_SKIP" ]; then
    say skipped "systemctl disable --now: $SYSTEMD_SKIP"
  elif systemctl cat "$svc" >/dev/null 2>&1; then
    systemctl disable --now --quiet "$svc" || true
    say stopped "$svc.service (and disabled)"
  fi

  local found=0 f
  for f in "$DESTDIR$UNIT_DIR/$svc.service" "$DESTDIR$BIN_DIR/$svc"; do
    [ -e "$f" ] && found=1
    remove_path "$f"
  done

  local env="$DESTDIR$ENV_DIR/$svc"
  if [ -e "$env" ]; then
    found=1
    if [ "$PURGE" -eq 1 ] || { [ -f "$DEFAULT_SRC/$svc" ] && cmp -s "$DEFAULT_SRC/$svc" "$env"; }; then
      remove_path "$env"
    else
      say kept "$env (you changed it; --purge removes it)"
    fi
  fi

  local dropins="$DESTDIR$UNIT_DIR/$svc.service.d" d
  if [ -d "$dropins" ]; then
    found=1
    if [ "$PURGE" -eq 1 ]; then remove_path "$dropins"; else say kept "$dropins/ (your drop-ins; --purge removes it)"; fi
  fi

  for d in $(data_dirs "$name"); do
    [ -d "$DESTDIR$d" ] || continue
    found=1
    if [ "$PURGE" -eq 1 ]; then
      remove_path "$DESTDIR$d"
    elif rmdir "$DESTDIR$d" 2>/dev/null; then
      say removed "$DESTDIR$d/ (was empty)"
    else
      say kept "$DESTDIR$d/ (not empty; --purge removes it)"
    fi
    # The parent we created (/var/lib/oxporter) goes when empty; nothing above it is touched.
    rmdir "$(dirname "$DESTDIR$d")" 2>/dev/null || true
  done
  [ "$found" -eq 1 ] || say "" "not installed: nothing to remove"

  if [ -z "$SYSTEMD_SKIP" ]; then
    systemctl daemon-reload
    systemctl reset-failed "$svc" 2>/dev/null || true
  fi
}

remove_user_if_unused() {
  [ "$PURGE" -eq 1 ] || return 0
  [ -z "$DESTDIR" ] || return 0
  getent passwd "$SERVICE_USER" >/dev/null || return 0
  if compgen -G "$UNIT_DIR/oxporter-*.service" >/dev/null; then
    say kept "user $SERVICE_USER (other oxporter services are still installed)"
    return 0
  fi
  userdel "$SERVICE_USER"
  if getent group "$SERVICE_USER" >/dev/null; then groupdel "$SERVICE_USER" 2>/dev/null || true; fi
  say removed "user $SERVICE_USER"
}

# --- main --------------------------------------------------------------------------------------------------------
if [ "$ACTION" = install ]; then
  # Check every binary before changing anything.
  if [ -n "$FROM" ] && [ ! -d "$FROM" ] && [ ${#NAMES[@]} -gt 1 ]; then
    die "--from $FROM is a file, but ${#NAMES[@]} exporters were named: pass a directory holding oxporter-<name>"
  fi
  declare -A BINS=()
  for n in "${NAMES[@]}"; do
    b="$(find_binary "$n")"
    if [ -z "$b" ]; then
      die "no binary for oxporter-$n: build it (scripts/build-release -p oxporter-$n) or pass --from PATH"
    fi
    if [ ! -f "$b" ] || [ ! -x "$b" ]; then die "$b is not an executable file"; fi
    # It must run on this machine (right architecture, not truncated).
    version="$("$b" --version 2>&1 | head -n 1)" || die "$b --version failed: $version"
    BINS[$n]="$b"
    echo "using $b ($version)"
  done
  [ -z "$DESTDIR" ] || echo "staging into DESTDIR=$DESTDIR"
  # Not `install_one || …`: that would switch off `set -e` inside it.
  FAILED=0
  for n in "${NAMES[@]}"; do
    install_one "$n" "${BINS[$n]}"
  done
  exit "$FAILED"
else
  [ -z "$DESTDIR" ] || echo "removing from DESTDIR=$DESTDIR"
  for n in "${NAMES[@]}"; do
    remove_one "$n"
  done
  remove_user_if_unused
fi
