#!/usr/bin/env bash
# The rooms point down: a file includes headers of its own room, of a room
# below it, or of common/, never of a room above. The order, lowest first:
#   common/  <  fetch/ kexec/ handoff/  <  fleet/  <  cli/
# (fleet reports over fetch's HTTP; cli drives them all). A header name is
# unique across the tree, so a quoted include names exactly one room.
set -u
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1

level() { # room -> its height
	case $1 in
	common) echo 0 ;;
	fetch | kexec | handoff) echo 1 ;;
	fleet) echo 2 ;;
	cli) echo 3 ;;
	*) echo 99 ;;
	esac
}

room_of() { # header name -> its room, empty when not ours
	local d
	for d in common agent/*; do
		[ -f "$d/$1" ] && { basename "$d"; return; }
	done
}

it_case "every agent room and common/ has a height"
bad=""
for d in agent/*/; do
	r=$(basename "$d")
	[ "$(level "$r")" != 99 ] || bad="$bad $r"
done
[ -z "$bad" ] && it_pass || it_fail "rooms without a place in the order:$bad"

it_case "no header name is used by two rooms"
dups=$(ls common/*.h agent/*/*.h | xargs -n1 basename | sort | uniq -d)
[ -z "$dups" ] && it_pass || it_fail "in two rooms: $dups"

it_case "no #include from a room into a room above it"
up=""
for f in common/*.[ch] agent/*/*.[ch]; do
	case $f in common/*) r=common ;; *) r=$(echo "$f" | cut -d/ -f2) ;; esac
	lr=$(level "$r")
	while IFS= read -r h; do
		hr=$(room_of "$h")
		[ -n "$hr" ] || continue
		[ "$(level "$hr")" -le "$lr" ] || [ "$hr" = "$r" ] || up="$up
  $f includes $h ($r -> $hr)"
	done < <(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done
[ -z "$up" ] && it_pass || it_fail "upward includes:$up"

it_case "rooms of one height do not include each other"
side=""
for f in agent/fetch/*.[ch] agent/kexec/*.[ch] agent/handoff/*.[ch]; do
	r=$(echo "$f" | cut -d/ -f2)
	while IFS= read -r h; do
		hr=$(room_of "$h")
		case $hr in fetch | kexec | handoff) [ "$hr" = "$r" ] || side="$side
  $f includes $h ($r -> $hr)" ;; esac
	done < <(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done
[ -z "$side" ] && it_pass || it_fail "sideways includes:$side"
it_summary
