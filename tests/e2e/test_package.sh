#!/bin/bash
# test_package: what a user installs. make install into a DESTDIR puts every
# file where it belongs and make uninstall takes them away; the man page
# renders without warnings and names every option --help lists, and so
# does the README's one options table; sluice -V, the installed man page
# and the package carry one version; the bash completion completes an
# option, a user and an ssh host; the unit passes systemd-analyze; the
# Debian package builds, lintian finds no error, and it installs,
# runs `sluice -V` and removes cleanly.
set -u
cd "$(dirname "$0")/../.."
pass() { echo "PASS package.$1"; }
fail() {
	echo "FAIL package.$1: $2"
	FAILS=$((FAILS + 1))
}
FAILS=0
[ -x build/sluice ] || {
	fail build "build/sluice not built"
	exit 1
}
TMP=$(mktemp -d /tmp/sluice-pkg.XXXXXX)
INSTALLED_DEB=0
cleanup() {
	[ "$INSTALLED_DEB" = 1 ] && dpkg --purge sluice >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT

# --- make install / uninstall ---------------------------------------------------
D=$TMP/root
make -s install DESTDIR="$D" PREFIX=/usr/local >"$TMP/install.log" 2>&1
rc=$?
want="usr/local/bin/sluice:755 usr/local/share/man/man1/sluice.1:644
usr/local/share/bash-completion/completions/sluice:644 usr/local/lib/systemd/system/sluice@.service:644
usr/local/share/doc/sluice/example.conf:644 usr/local/share/doc/sluice/README.md:644"
bad=""
for f in $want; do
	[ "$(stat -c %a "$D/${f%%:*}" 2>/dev/null)" = "${f##*:}" ] || bad="$bad ${f%%:*}"
done
if [ $rc = 0 ] && [ -z "$bad" ] && grep -q '^ExecStart=/usr/local/bin/sluice --syslog @/etc/sluice/%i.conf$' \
	"$D/usr/local/lib/systemd/system/sluice@.service" && ! grep -q '@VERSION@' "$D/usr/local/share/man/man1/sluice.1"; then
	pass install_destdir
else
	fail install_destdir "exit $rc, missing or wrong mode:$bad $(tail -n 2 "$TMP/install.log" | tr '\n' '|')"
fi
"$D/usr/local/bin/sluice" -V >/dev/null 2>&1 && pass installed_binary_runs || fail installed_binary_runs "sluice -V failed"
make -s uninstall DESTDIR="$D" PREFIX=/usr/local >/dev/null 2>&1
left=$(find "$D" -type f | sed "s|^$D/||")
if [ -z "$left" ]; then pass uninstall_destdir; else fail uninstall_destdir "left: $(echo "$left" | tr '\n' ' ')"; fi

# --- the man page ------------------------------------------------------------------
warn=$(MANWIDTH=80 man --warnings -l dist/sluice.1 2>&1 >/dev/null)
page=$(MANWIDTH=200 man -l dist/sluice.1 2>/dev/null)
missing=""
for o in $(build/sluice --help | grep -o -- '--[a-z0-9-]*' | sort -u); do
	echo "$page" | grep -q -- "$o" || missing="$missing $o"
done
if [ -z "$warn" ] && [ -n "$page" ] && [ -z "$missing" ] && echo "$page" | grep -q 'STATUS JSON' &&
	echo "$page" | grep -q 'EXIT STATUS'; then
	pass man_page
else
	fail man_page "warnings '$warn', options missing:$missing"
fi

# --- the README's options table ------------------------------------------------------
# Every option --help lists is in the one table under "### Options", and no
# other table of options has grown back beside it.
table=$(awk '/^### Options/ { f = 1; next } f && /^\|/ { t = 1; print; next } t { exit }' README.md)
missing=""
for o in $(build/sluice --help | grep -o -- '--[a-z0-9-]*' | sort -u); do
	echo "$table" | grep -q -- "\`[^\`]*$o" || missing="$missing $o"
done
others=$(grep -c '^| option' README.md)
if [ -n "$table" ] && [ -z "$missing" ] && [ "$others" = 1 ]; then
	pass readme_options_table
else
	fail readme_options_table "options missing:$missing; $others tables headed '| option'"
fi

# --- one version ------------------------------------------------------------------------
# The version sluice -V prints (before its commit) is the installed man
# page's and the package's; the man page in the tree shows no placeholder.
version=$(build/sluice -V | awk '{ print $2 }')
make -s install DESTDIR="$TMP/v" PREFIX=/usr >/dev/null 2>&1
th=$(head -n 1 "$TMP/v/usr/share/man/man1/sluice.1")
src=$(MANWIDTH=80 man -l dist/sluice.1 2>/dev/null)
if echo "$version" | grep -Eq '^0\.[0-9]+$' && [ "$th" = ".TH SLUICE 1 $(head -n 1 dist/sluice.1 | awk '{ print $4 }') \"sluice $version\" \"User Commands\"" ] &&
	! echo "$src" | grep -q '@[A-Z_]*@'; then
	pass one_version
else
	fail one_version "sluice -V '$version', installed man page '$th'"
fi

# --- bash completion ------------------------------------------------------------------
mkdir -p "$TMP/home/.ssh"
printf 'Host officegw\n\tHostName 192.0.2.9\nHost *\n\tUser x\n' >"$TMP/home/.ssh/config"
comp() { # comp WORDS...: what completing the last word offers
	HOME=${HOME_FOR_COMP:-$TMP/home} bash -c 'source dist/sluice.bash-completion; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _sluice; echo "${COMPREPLY[*]}"' sh "$@"
}
o=$(comp sluice --no-re)
u=$(comp sluice --user ro)
h=$(comp sluice -r off)
if [ "$o" = --no-reconnect ] && echo " $u " | grep -q ' root ' && [ "$h" = officegw ]; then
	pass bash_completion
else
	fail bash_completion "option '$o', user '$u', host '$h'"
fi

# Host names are data: one from known_hosts or an ssh config that looks like
# a command substitution is offered as it is, and never run.
mkdir -p "$TMP/evil/.ssh"
printf '[$(id>%s/pwned)]:22 ssh-ed25519 AAAA\n' "$TMP" >"$TMP/evil/.ssh/known_hosts"
printf 'Host `id>%s/pwned2`\n' "$TMP" >"$TMP/evil/.ssh/config"
evil=$(HOME_FOR_COMP=$TMP/evil comp sluice -r '$(id')
evil2=$(HOME_FOR_COMP=$TMP/evil comp sluice -r '`')
if [ ! -e "$TMP/pwned" ] && [ ! -e "$TMP/pwned2" ] && [ "$evil" = "\$(id>$TMP/pwned)" ] &&
	[ "$evil2" = "\`id>$TMP/pwned2\`" ]; then
	pass bash_completion_hosts_not_run
else
	fail bash_completion_hosts_not_run "ran: $(ls "$TMP"/pwned* 2>/dev/null | tr '\n' ' '); offered '$evil', '$evil2'"
fi

# --- the systemd unit -------------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
	sed 's|@BINDIR@|/usr/bin|' dist/sluice@.service >"$TMP/sluice@.service"
	out=$(cd "$TMP" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$TMP/sluice@.service" 2>&1 |
		grep -v -e 'Command /usr/bin/sluice is not executable' -e 'not found' -e 'Failed to prepare')
	if [ -z "$out" ]; then pass unit_verifies; else fail unit_verifies "$out"; fi
fi

# --- the Debian package ---------------------------------------------------------------------
if dpkg -s sluice >/dev/null 2>&1; then
	fail deb "a sluice package is already installed here; not touching it"
else
	make -s deb >"$TMP/deb.log" 2>&1
	rc=$?
	deb=$(ls build/sluice_"$version"_*.deb 2>/dev/null | tail -n 1)
	if [ $rc = 0 ] && [ -n "$deb" ]; then pass deb_builds; else fail deb_builds "exit $rc: $(tail -n 3 "$TMP/deb.log" | tr '\n' '|')"; fi
	# Its version is sluice -V's, and it names no placeholder address.
	control=$(dpkg-deb -f "$deb" 2>/dev/null)
	if [ -n "$deb" ] && [ "$(dpkg-deb -f "$deb" Version)" = "$version" ] && [ "${deb##*/}" = "sluice_${version}_$(dpkg --print-architecture).deb" ] &&
		! echo "$control" | grep -q 'example\.com'; then
		pass deb_version
	else
		fail deb_version "sluice -V '$version', package: $(echo "$control" | grep -e ^Version -e example | tr '\n' '|')"
	fi
	if command -v lintian >/dev/null; then
		lint=$(lintian --tag-display-limit 0 "$deb" 2>&1 | grep -v 'running with root privileges')
		errors=$(echo "$lint" | grep -c '^E:')
		if [ -n "$deb" ] && [ "$errors" = 0 ]; then pass deb_lintian_no_errors; else
			fail deb_lintian_no_errors "$(echo "$lint" | head -n 5 | tr '\n' '|')"
		fi
		echo "# lintian: $(echo "$lint" | grep -c '^[EW]:') errors and warnings"
	else
		fail deb_lintian_no_errors "lintian is not installed (run tests/deps.sh)"
	fi
	INSTALLED_DEB=1
	if dpkg -i "$deb" >"$TMP/dpkg.log" 2>&1 && /usr/bin/sluice -V | grep -q '^sluice ' &&
		[ -f /lib/systemd/system/sluice@.service ] && [ -f /usr/share/man/man1/sluice.1.gz ]; then
		pass deb_installs_and_runs
	else
		fail deb_installs_and_runs "$(tail -n 3 "$TMP/dpkg.log" | tr '\n' '|')"
	fi
	dpkg --purge sluice >"$TMP/dpkg.log" 2>&1
	INSTALLED_DEB=0
	if [ ! -e /usr/bin/sluice ] && ! dpkg -s sluice >/dev/null 2>&1; then pass deb_removes; else
		fail deb_removes "$(tail -n 3 "$TMP/dpkg.log" | tr '\n' '|')"
	fi
fi

exit $((FAILS > 0))
