# shellcheck shell=bash
# Scenario nixos-anywhere of the journey test (issue 23): the kexec phase of
# nixos-anywhere, step by step as it runs against a fresh Debian cloud VM
# given `--kexec ./nixos-kexec-anywhere-x86_64.tar.gz` (a local file), with
# the tarball `make release` writes (tools/release.sh).
# Sourced by tests/e2e/journey/run.sh (lib.sh's helpers, lib/runner.sh's
# need/must/timing).
#
# The commands are nixos-anywhere's own, read from src/nixos-anywhere.sh and
# src/get-facts.sh of github:nix-community/nixos-anywhere at commit
# 91fc9b70fc295258c366cce8627efb6f185fd9fb (`git describe`: 1.13.0-98-g91fc9b7,
# 2026-07-22), quoted where they are run below:
#
#   uploadSshKey   ssh-copy-id of its temporary key to the user it logs in as
#   importFacts    get-facts.sh: hasTar, hasCpio, `setsid --wait true`, sudo
#   runKexec       writes $HOME/kexec/nixos-anywhere-kexec.sh (the template
#                  below, with maybeSudo=sudo and a local file's tar command),
#                  uploads the tarball to $HOME/kexec/kexec-tarball.tar.gz,
#                  runs `bash "$HOME/kexec/nixos-anywhere-kexec.sh"`, which
#                  fails unless its log holds "machine will boot into nixos";
#                  then `while runSshTimeout -- exit 0; do sleep 1; done`
#                  (SSH goes away), sshConnection="root@${sshHost}", `until
#                  runSsh -o ConnectTimeout=10 -- exit 0; do sleep 5; done`,
#                  importFacts again, and `abort "Failed to kexec into NixOS
#                  installer"` unless /etc/os-release matches
#                  'ID(_LIKE)?="?nixos"?' and 'VARIANT_ID="?installer"?'.
#
# Two runs in one VM. First the tarball of a release whose bundle carries a
# signature by another key (BASE/anywhere-badsig/<arch>/): the phase must
# fail (exit 1, "Kexec may have failed"), run must exit with the agent's 65
# and its reason, without the success line, and the machine stays as it
# was (the debian user logs in, nothing loaded, no second kernel). Then the
# published tarball: the success line, SSH going away, a root login with
# nixos-anywhere's temporary key (handed over from debian's
# authorized_keys) against the host key recorded before, os-release saying
# ID=nixos and VARIANT_ID=installer, and check_second's checks.

e2e_scenarios nixos-anywhere

# The remote script runKexec writes (its remoteCommandTemplate with
# maybeSudo=sudo, enableDebug empty, the tar command of an uploaded local
# file, and $(printf '%q' "") for --kexec-extra-flags ''), verbatim.
anywhere_kexec_script() {
	cat <<'EOF'

# Run kexec commands with sudo if needed
{
  set -eu 
  cd "$HOME/kexec"
  echo Downloading kexec tarball, this may take a moment...
  # Execute tar command
  cat "$HOME/kexec/kexec-tarball.tar.gz" | tar -xv --gzip
  TMPDIR="$HOME/kexec" sudo setsid --wait "$HOME/kexec/kexec/run" --kexec-extra-flags ''
} 2>&1 | tee "$HOME/kexec/nixos-anywhere.log" || true

# The script will likely disconnect us, so we consider it successful if we see the kexec message
if ! grep -q 'machine will boot into nixos' "$HOME/kexec/nixos-anywhere.log"; then
  echo 'Kexec may have failed - check output above'
  exit 1
fi

EOF
}

# SSH as USER with nixos-anywhere's temporary key only (run.sh's options
# but their first two, "-i" and the user's key).
na_ssh() {
	local user=$1
	shift
	ssh -i "$DIR/na-key" "${SSH_OPTS[@]:2}" "$user@127.0.0.1" "$@" 2>&1
}

# runKexec for TARBALL, as the debian user; output stamped in OUT, the
# phase's status in NA_RC, the time it returned in NA_T.
na_run_kexec() {
	local tarball=$1 out=$2
	anywhere_kexec_script | na_ssh debian 'mkdir -p "$HOME/kexec" && cat > "$HOME/kexec/nixos-anywhere-kexec.sh"' >"$out.write" ||
		must "cannot write nixos-anywhere-kexec.sh: $(tail -n1 "$out.write")" false
	# The upload: "${localUploadCommand[@]}" | runSsh 'cat > ...'.
	cat "$tarball" | na_ssh debian 'cat > "$HOME/kexec/kexec-tarball.tar.gz"' >"$out.upload" ||
		must "cannot upload the tarball: $(tail -n1 "$out.upload")" false
	NA_RC=0
	na_ssh debian 'bash "$HOME/kexec/nixos-anywhere-kexec.sh"' </dev/null > >(stamp "$VM_T0" >"$out") || NA_RC=$?
	NA_T=$(now_rel)
	sleep 0.3 # the stamp process writes the last lines
	unstamp "$out"
	echo "the kexec phase returned $NA_RC at $NA_T s"
}

scenario_nixos_anywhere() {
	local tb=$WORK/www/nixos/nixos-kexec-anywhere-$ARCH.tar.gz bad t_start t_gone t_root t0 rc=0
	if [ "$BOOTSH_FROM" != release ] || [ ! -s "$tb" ]; then
		echo "no static release here (make static): the tarball is make release's" >"$DIR/skip"
		return 0
	fi
	# The bad run's release: the same agent, the same key, a bundle signed
	# with another key.
	mkdir -p "$WORK/www/anywhere-badsig"
	cp -a "$WORK/www/nixos/$ARCH" "$WORK/www/anywhere-badsig/$ARCH"
	e2e_make_key "$DIR/otherkey" >/dev/null
	rm -f "$WORK/www/anywhere-badsig/$ARCH/manifest.minisig"
	"$B/nixos-kexec" sign -s "$DIR/otherkey/nk.sec" "$WORK/www/anywhere-badsig/$ARCH" >/dev/null
	"$RELEASE_SH" --static "$STATIC_DIR" --out "$DIR/badrel" --url "https://$E2E_GUEST_SERVER/anywhere-badsig" \
		--key "$WORK/key/nk.pub" --delay 5 >/dev/null
	bad=$DIR/badrel/nixos-kexec-anywhere-$ARCH.tar.gz
	must "the published tarball is not in SHA256SUMS" \
		grep -q " nixos-kexec-anywhere-$ARCH.tar.gz\$" "$WORK/www/nixos/SHA256SUMS"

	# A cloud VM without user data up to its sshd, its host key recorded
	# (the stub's collector goes unused).
	first_with_collector

	# uploadSshKey: ssh-copy-id puts nixos-anywhere's temporary key into
	# the login user's authorized_keys; every later step uses that key.
	ssh-keygen -q -t ed25519 -N "" -C "nixos-anywhere" -f "$DIR/na-key"
	ssh "${SSH_OPTS[@]}" debian@127.0.0.1 'cat >> ~/.ssh/authorized_keys' <"$DIR/na-key.pub" >"$DIR/copyid.out" 2>&1 ||
		must "ssh-copy-id's step failed: $(tail -n1 "$DIR/copyid.out")" false
	# importFacts: what nixos-anywhere needs before the kexec (get-facts.sh).
	na_ssh debian 'for c in tar cpio sudo; do command -v $c >/dev/null && echo "JR has $c"; done;
		setsid --wait true 2>/dev/null && echo "JR hasSetsid=y";
		grep -Eq "ID(_LIKE)?=\"?nixos\"?" /etc/os-release && echo "JR isNixos=y" || echo "JR isNixos=n"' \
		</dev/null >"$DIR/facts1.out" || must "no login with nixos-anywhere's key: $(tail -n1 "$DIR/facts1.out")" false
	cat "$DIR/facts1.out"
	for c in tar cpio sudo; do
		need "the cloud image lacks $c, which nixos-anywhere requires" grep -qx "JR has $c" "$DIR/facts1.out"
	done
	need "setsid --wait true fails in the cloud image (nixos-anywhere: hasSetsid)" grep -qx "JR hasSetsid=y" "$DIR/facts1.out"
	need "the cloud image already says it is NixOS" grep -qx "JR isNixos=n" "$DIR/facts1.out"

	# Run 1: a bundle whose signature is not by the key in the tarball.
	echo "run 1: $bad (bundle signed with another key)"
	na_run_kexec "$bad" "$DIR/bad.out"
	need "the kexec phase succeeded although the bundle's signature is wrong" [ "$NA_RC" -ne 0 ]
	need "the phase did not say 'Kexec may have failed'" grep -q "Kexec may have failed" "$DIR/bad.out"
	need "the success line was printed for a refused bundle" lacks "$DIR/bad.out" "machine will boot into nixos"
	need "run did not exit with the agent's 65" grep -q "run: nixos-kexec exited 65" "$DIR/bad.out"
	need "the agent's reason does not name the signature" grep -qiE "nixos-kexec: .*(signature|signed by key id)" "$DIR/bad.out"
	need "tar -xv did not list kexec/run" grep -q "kexec/run$" "$DIR/bad.out"
	rc=0
	ssh_retry "$DIR/after-bad.ssh" 30 debian \
		'echo "JR kexec_loaded=$(cat /sys/kernel/kexec_loaded)"; echo "JR cmdline=$(cat /proc/cmdline)";
		 echo "JR hostname=$(hostname)"' || rc=$?
	cat "$DIR/after-bad.ssh"
	must "the first system is not reachable over SSH after the refusal (ssh exit $rc)" [ "$rc" -eq 0 ]
	need "kexec_loaded is not 0 after the refusal" grep -qx "JR kexec_loaded=0" "$DIR/after-bad.ssh"
	need "after the refusal, not the first system" lacks "$DIR/after-bad.ssh" "nk.second="
	need "a second kernel booted although the bundle was refused" \
		[ "$(grep -ac 'Linux version' "$LOG" || true)" -le 1 ]

	# Run 2: the published tarball.
	echo "run 2: $tb"
	t_start=$(now_rel)
	na_run_kexec "$tb" "$DIR/good.out"
	must "the kexec phase failed (exit $NA_RC): $(unstamp "$DIR/good.out" | tail -n 3 || true)" [ "$NA_RC" -eq 0 ]
	must "no success line" grep -q "machine will boot into nixos" "$DIR/good.out"
	must "the agent did not load the kernel before the success line" grep -qE "$LOADED_LINE" "$DIR/good.out"
	need "the success line came before the agent's 'loaded'" \
		awk -v a="$(t_of "$DIR/good.out" "$LOADED_LINE")" -v b="$(t_of "$DIR/good.out" "machine will boot into nixos")" \
		'BEGIN { exit !(a <= b) }'
	# while runSshTimeout -- exit 0; do sleep 1; done
	t0=$SECONDS
	while timeout 10 ssh -i "$DIR/na-key" "${SSH_OPTS[@]:2}" debian@127.0.0.1 -- exit 0 </dev/null >/dev/null 2>&1; do
		[ $((SECONDS - t0)) -lt 120 ] || must "SSH did not go away within 120 s of the success line" false
		sleep 1
	done
	t_gone=$(now_rel)
	echo "SSH went away at $t_gone s"
	check_second "$(agent_nonce "$DIR/good.out")" "$t_start" ""
	# until runSsh -o ConnectTimeout=10 -- exit 0; do sleep 5; done, as
	# root@host, with nixos-anywhere's key; then importFacts' checks.
	t0=$SECONDS
	until na_ssh root -o ConnectTimeout=10 -- exit 0 </dev/null >"$DIR/na-root.out"; do
		[ $((SECONDS - t0)) -lt 120 ] || must "no root login with nixos-anywhere's key: $(tail -n1 "$DIR/na-root.out")" false
		sleep 5
	done
	t_root=$(now_rel)
	na_ssh root 'cat /etc/os-release | sed "s/^/JR os-release: /";
		grep -Eq "ID(_LIKE)?=\"?nixos\"?" /etc/os-release && echo "JR isNixos=y";
		grep -Eq "VARIANT_ID=\"?installer\"?" /etc/os-release && echo "JR isInstaller=y";
		[ "$(id -u)" -eq 0 ] && echo "JR isRoot=y"' </dev/null >"$DIR/facts2.out" || true
	cat "$DIR/facts2.out"
	need "os-release does not match nixos-anywhere's ID(_LIKE)?=\"?nixos\"?" grep -qx "JR isNixos=y" "$DIR/facts2.out"
	need "os-release does not match VARIANT_ID=\"?installer\"? (nixos-anywhere: Failed to kexec into NixOS installer)" \
		grep -qx "JR isInstaller=y" "$DIR/facts2.out"
	need "nixos-anywhere's key does not log in as root" grep -qx "JR isRoot=y" "$DIR/facts2.out"
	echo "nixos-anywhere check: refused bundle left the first system; then success line, SSH gone at $t_gone s, root with its key at $t_root s, ID=nixos VARIANT_ID=installer"
	timing "VM start to kexec phase $t_start s"
	timing "phase to success line $(secs "$t_start" "$NA_T") s"
	timing "success line to SSH gone $(secs "$NA_T" "$t_gone") s"
	timing "kexec to sshd $(secs "$T_KEXEC" "$T_SSHD") s"
	timing "phase to root login (nixos-anywhere's key) $(secs "$t_start" "$t_root") s"
	kexec_detail "$NA_T"
}
