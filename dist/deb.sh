#!/bin/bash
# deb.sh ROOT VERSION ARCH: the Debian metadata for the staged tree in ROOT
# (make deb): control with the shared-library packages the binary links,
# copyright, changelog and md5sums.
set -eu
root=$(cd "$1" && pwd) version=$2 arch=$3
# The project's own address; there is no web page to name as Homepage.
maintainer='Seed fa46b2f7 maintainers <maintainers@users.noreply.h-seed-fa46b2f7.example>'
doc=$root/usr/share/doc/sluice
mkdir -p "$root/DEBIAN" "$doc"

# The library packages the binary needs, with the versions their symbols
# need (dpkg-shlibdeps reads the shlibs/symbols files), as debhelper would.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/debian"
printf 'Source: sluice\n\nPackage: sluice\nArchitecture: any\n' >"$work/debian/control"
deps=$(cd "$work" && dpkg-shlibdeps -O "$root/usr/bin/sluice" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
if [ -z "$deps" ]; then
	echo "deb.sh: dpkg-shlibdeps found no dependencies for usr/bin/sluice" >&2
	exit 1
fi

cat >"$root/DEBIAN/control" <<EOF
Package: sluice
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $deps
Recommends: sudo, nftables
Section: net
Priority: optional
Description: transparent proxy VPN over SSH
 sluice carries every TCP connection to the given networks through an SSH
 server, with nothing installed on the server: it uploads a small static
 helper over the same session and multiplexes byte streams over one
 channel. It runs as the user, with a small privileged part for the
 nftables rules, and reconnects by itself when the session drops.
EOF

cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: sluice
Upstream-Contact: $maintainer

Files: *
Copyright: 2026 sluice developers
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a
 copy of this software and associated documentation files (the "Software"),
 to deal in the Software without restriction, including without limitation
 the rights to use, copy, modify, merge, publish, distribute, sublicense,
 and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
 FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
 DEALINGS IN THE SOFTWARE.
EOF

{
	echo "sluice ($version) unstable; urgency=medium"
	echo
	echo "  * Built from $(git describe --always --dirty --exclude='*' 2>/dev/null || echo source)."
	echo
	echo " -- $maintainer  $(date -R -d @"${SOURCE_DATE_EPOCH:-$(date +%s)}")"
} | gzip -9n >"$doc/changelog.gz"

chmod 644 "$doc/copyright" "$doc/changelog.gz"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z |
	xargs -0 md5sum | sed 's| \./| |') >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -type d -exec chmod 755 {} +
