#!/bin/bash
# test_arch: helpers for other machines. S's sshd sessions see a uname -m
# of the test's choosing (a file bound over /usr/bin/uname in sshd's own
# mount namespace), and qemu-user-static runs ARM binaries through
# binfmt_misc entries this script registers (flag F, so the interpreter is
# found in any mount namespace) and removes again, also on failure. For
# aarch64 and armv7l: the matching helper is uploaded, runs under qemu, and
# carries a checksummed download. For s390x: one clear line, nothing left.
TB_SUITE=arch
TB_ETC_HOOK=arch_etc
# The fake uname reads the machine to report from a file the test rewrites.
arch_etc() {
	printf '#!/bin/sh\ncase "$1" in -m) cat %s ;; *) echo Linux ;; esac\n' "$TB/machine" >"$TB/fake-uname" &&
		chmod 755 "$TB/fake-uname" && echo aarch64 >"$TB/machine" && chmod 644 "$TB/machine" &&
		TB_SSHD_UNAME=$TB/fake-uname
}
. "$(dirname "$0")/lib.sh"
need_sluice

BINFMT=/proc/sys/fs/binfmt_misc
BINFMT_MOUNTED=0
BINFMT_ENTRIES=""
# arch_down: our binfmt entries (and the mount, if it was ours) go, then the testbed.
arch_down() {
	local e
	for e in $BINFMT_ENTRIES; do
		[ -e "$BINFMT/$e" ] && echo -1 >"$BINFMT/$e"
	done
	[ "$BINFMT_MOUNTED" = 1 ] && umount "$BINFMT"
	tb_down
}

# binfmt_add NAME MAGIC MASK INTERPRETER
binfmt_add() {
	printf ':%s:M::%s:%s:%s:F' "$1" "$2" "$3" "$4" >"$BINFMT/register" || return 1
	BINFMT_ENTRIES="$BINFMT_ENTRIES $1"
}

tb_up
trap arch_down EXIT
for q in qemu-aarch64-static qemu-arm-static; do
	command -v $q >/dev/null || tb_die "$q not installed (run tests/deps.sh)"
done
if [ ! -e "$BINFMT/register" ]; then
	mount -t binfmt_misc binfmt_misc "$BINFMT" || tb_die "cannot mount binfmt_misc"
	BINFMT_MOUNTED=1
fi
ELF_MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
binfmt_add "sluice-e2e-aarch64-$$" \
	'\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00' "$ELF_MASK" \
	"$(command -v qemu-aarch64-static)" || tb_die "cannot register aarch64 in binfmt_misc"
binfmt_add "sluice-e2e-arm-$$" \
	'\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00' "$ELF_MASK" \
	"$(command -v qemu-arm-static)" || tb_die "cannot register arm in binfmt_misc"
SHA=$(tb_make_file arch.bin $((8 << 20))) || tb_die "cannot write arch.bin"
NET=198.51.100.0/24

# The testbed itself: S's sessions see the machine we say.
got=$(inC ssh -F "$TB/ssh_config" sshhost uname -m 2>&1)
if [ "$got" = aarch64 ]; then pass testbed_uname; else fail testbed_uname "uname -m in S said '$got'"; fi

# e_machine of an ELF file, as a number.
elf_machine() { od -An -tu2 -j18 -N2 "$1" 2>/dev/null | tr -d ' '; }

for spec in aarch64:183:qemu-aarch64 armv7l:40:qemu-arm; do
	m=${spec%%:*} rest=${spec#*:}
	em=${rest%%:*} qemu=${rest#*:}
	echo "$m" >"$TB/machine"
	if sluice_start_case ${m}_start http://$L4/ -r sshhost -v $NET; then
		if grep -q "uploading the remote helper for $m" "$SLUICE_LOG"; then pass ${m}_helper_uploaded; else
			fail ${m}_helper_uploaded "no 'uploading the remote helper for $m' line: $(sluice_log_tail)"
		fi
		got=$(
			set -o pipefail
			inC curl -sS --max-time 60 http://$L4/arch.bin 2>&1 | sha256sum | cut -d' ' -f1
		)
		if [ "$got" = "$SHA" ]; then pass ${m}_download_8mib; else fail ${m}_download_8mib "sha256 $got, want $SHA"; fi
		# What runs in S as the login user: the cached helper is an ELF for this
		# machine, and its process is qemu's.
		cached=$(ls "$TB"/home/.cache/sluice/sluice-helper-* 2>/dev/null | while read -r f; do
			[ "$(elf_machine "$f")" = "$em" ] && echo "$f"
		done | head -n 1)
		emulated=""
		for pid in $(ip netns pids "$NS_S"); do
			[ "$(stat -c %u "/proc/$pid" 2>/dev/null)" = "$LOGIN_UID" ] || continue
			case $(readlink "/proc/$pid/exe") in *"$qemu"*) emulated=$pid ;; esac
		done
		if [ -n "$cached" ] && [ -n "$emulated" ]; then pass ${m}_helper_runs_emulated; else
			fail ${m}_helper_runs_emulated "cached $m helper '$cached', qemu process '$emulated'"
		fi
		stopped_clean ${m}_sigterm_clean_exit TERM
	fi
done

# A machine we carry nothing for.
echo s390x >"$TB/machine"
sluice_run -r sshhost $NET
lines=$(printf '%s\n' "$SLUICE_ERR" | grep -Ev "$PROGRESS_RE" | grep -c .)
if [ "$SLUICE_RC" != 0 ] && [ "$SLUICE_RC" != 124 ] && [ "$lines" = 1 ] &&
	echo "$SLUICE_ERR" | grep -q "the remote machine is s390x; this sluice carries helpers for x86_64, aarch64, armv7l"; then
	pass s390x_refused
else
	fail s390x_refused "exit $SLUICE_RC, $lines lines: $(echo "$SLUICE_ERR" | tr '\n' '|')"
fi
if nft_table_present; then fail s390x_nothing_installed "table inet $(sluice_table) in C"; else pass s390x_nothing_installed; fi

tb_finish
