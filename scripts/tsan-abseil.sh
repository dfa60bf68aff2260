#!/usr/bin/env bash
# Builds Debian's own Abseil, the exact source version of the installed libabsl, with
# ThreadSanitizer into OUT_DIR (shared libraries with the installed SONAMEs), for the TSan build.
# Usage: scripts/tsan-abseil.sh OUT_DIR   (scripts/build.sh --tsan calls it)
#
# Why: the project and gRPC synchronize with absl::Mutex / absl::CondVar, which live in
# libabsl_synchronization.so. Debian builds it without TSan, so TSan would see none of those
# locks and report false races on every ABSL_GUARDED_BY field. Built with -fsanitize=thread,
# Abseil's mutex code calls TSan's mutex annotations (absl/base/internal/tsan_mutex_interface.h),
# so every absl::Mutex, in our code and in gRPC's core, orders memory for TSan as it really does.
# The TSan binaries find these libraries first through their RPATH (CMake: RWKV_TSAN_LIBRARY_DIR).
# Only what that library needs is compiled: under a minute on 2 cores.
set -euo pipefail
out_dir=${1:?usage: scripts/tsan-abseil.sh OUT_DIR}
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

libdir=/usr/lib/$(gcc -print-multiarch)
libraries=(synchronization)  # why only this one: below
installed=$(readlink -f "$libdir/libabsl_synchronization.so")
# The binary package owning it, then its source package and version: the source to build.
binary_package=$(dpkg -S "$installed" | cut -d: -f1)
read -r source_package source_version < <(dpkg-query -W -f='${source:Package} ${source:Version}\n' "$binary_package")
stamp="$out_dir/.built-from"
built_from="$source_package $source_version: ${libraries[*]}"
if [ "$(cat "$stamp" 2>/dev/null)" = "$built_from" ]; then
  echo "tsan-abseil: $built_from already built in $out_dir"
  exit 0
fi
echo "tsan-abseil: building $source_package $source_version with -fsanitize=thread"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A private apt setup: deb-src entries for the mirrors the machine already uses (its own sources
# with "deb" turned into "deb-src"), so the system's apt configuration stays as it is.
mkdir -p "$work/apt/lists/partial" "$work/apt/sources"
for f in /etc/apt/sources.list.d/*.sources; do
  [ -e "$f" ] && sed 's/^Types:.*$/Types: deb-src/' "$f" > "$work/apt/sources/$(basename "$f")"
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -e "$f" ] && sed -n 's/^deb \(.*\)$/deb-src \1/p' "$f" >> "$work/apt/sources/from-lists.list"
done
apt_options=(-q -o "Dir::Etc::SourceParts=$work/apt/sources" -o "Dir::Etc::SourceList=/dev/null"
             -o "Dir::State::Lists=$work/apt/lists" -o "APT::Sandbox::User=root")
# A source index of a third-party repository may be missing; apt-get source says so below.
apt-get "${apt_options[@]}" update > "$work/apt-update.log" 2>&1 || cat "$work/apt-update.log"
(cd "$work" && apt-get "${apt_options[@]}" source "$source_package=$source_version" > apt-source.log 2>&1) || {
  cat "$work/apt-source.log"
  echo "tsan-abseil: cannot fetch the source of $source_package $source_version" >&2
  exit 1
}
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name "$source_package-*")

# As debian/rules configures the shared build (C++17), plus TSan; clang, as the project's TSan
# build, so both use one TSan runtime.
options=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1"
         -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_FLAGS=-fsanitize=thread
         -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON -DBUILD_TESTING=OFF)
if command -v ccache > /dev/null; then options+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
if ! cmake -S "$src" -B "$work/build" "${options[@]}" > "$work/build.log" 2>&1 ||
   ! cmake --build "$work/build" -j "$(nproc)" --target synchronization >> "$work/build.log" 2>&1; then
  tail -50 "$work/build.log"
  exit 1
fi

# Only libabsl_synchronization stands in for Debian's: the rest of Abseil has no lock that orders
# our data. (Abseil's own per-thread wait state, made on a thread's first wait, is still seen
# unordered by TSan: tests/tools/tsan.supp explains those two entries.) It must export every
# symbol the installed one does (TSan adds a few, e.g. SpinLock's destructor), and every symbol
# it needs, but TSan's own, must come from the installed libraries it links, so that it mixes
# with Debian's Abseil, gRPC and protobuf.
soname_of() { readelf -d "$1" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p'; }
defined() { nm -D --defined-only "$@" | awk '{print $3}' | sed 's/@.*//' | sort -u; }
rm -f "$out_dir"/libabsl_*
for name in "${libraries[@]}"; do
  built=$(find "$work/build" -name "libabsl_$name.so.*.*" -type f)
  installed=$(readlink -f "$libdir/libabsl_$name.so")
  soname=$(soname_of "$installed")
  missing=$(comm -23 <(defined "$installed") <(defined "$built"))
  needed=$(readelf -d "$built" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | sed "s|^|$libdir/|")
  unresolved=$(comm -23 <(nm -D --undefined-only "$built" | awk '$1 == "U" {print $2}' |
                            sed 's/@.*//' | grep -v -e '^__tsan_' -e '^Annotate' | sort -u) \
                        <(defined $needed 2> /dev/null))
  if [ "$soname" != "$(soname_of "$built")" ] || [ -n "$missing$unresolved" ]; then
    echo "tsan-abseil: the instrumented $soname does not match the installed one;" \
         "missing exports: ${missing:-none}; unresolved: ${unresolved:-none}" >&2
    exit 1
  fi
  cp "$built" "$out_dir/$soname"
done
echo "$built_from" > "$stamp"
echo "tsan-abseil: instrumented ${libraries[*]} in $out_dir"
