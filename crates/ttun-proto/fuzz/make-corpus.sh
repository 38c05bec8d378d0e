#!/usr/bin/env bash
# Writes seed inputs for the fuzz targets into corpus/<target>/ (git-ignored), from the
# known-answer streams in test/vectors/ttun-v1-vectors.json plus a few hand-made inputs.
# Input layouts: fuzz_targets/decoder.rs and fuzz_targets/shared/open_oracle.rs.
#   make-corpus.sh            all targets
#   make-corpus.sh TARGET...  only these (decoder, open, open_ring)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vectors="$here/../../../test/vectors/ttun-v1-vectors.json"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decoder open open_ring)

exec python3 - "$vectors" "$here/corpus" "${targets[@]}" <<'PY'
import hashlib, json, os, struct, sys

vectors_path, corpus_dir, targets = sys.argv[1], sys.argv[2], sys.argv[3:]
cases = json.load(open(vectors_path))["cases"]

def frames(stream):
    """End offsets of the frames of a stream."""
    ends, pos = [], 0
    while pos < len(stream):
        pos += 2 + int.from_bytes(stream[pos:pos + 2], "big")
        ends.append(pos)
    assert pos == len(stream)
    return ends

def truncations(stream):
    """The stream cut inside the length prefix, inside frame bodies and after each frame."""
    ends = frames(stream)
    cuts = {0, 1, 2, 3, len(stream) - 1}
    for start, end in zip([0] + ends, ends):
        cuts |= {start + 1, start + 2, start + 10, (start + end) // 2, end - 1, end}
    return [stream[:c] for c in sorted(cuts) if 0 <= c <= len(stream)]

# Chunk specs: [n][n size bytes] (fuzz_targets/shared/chunks.rs).
WHOLE = bytes([0])
BYTEWISE = bytes([1, 1])
SPLITS = [WHOLE, BYTEWISE, bytes([3, 1, 7, 200]), bytes([2, 0, 26]), bytes([1, 128])]

seeds = {"decoder": [], "open": []}
for index, case in enumerate(cases[:3]):
    for direction, key in ((0, "client_to_server_stream"), (1, "server_to_client_stream")):
        stream = bytes.fromhex(case[key])
        big = len(stream) > 4096
        for cut in truncations(stream):
            # The big case (a 65519-byte packet) only whole, cut and byte-wise where small.
            splits = [WHOLE, bytes([1, 128])] if len(cut) > 4096 else SPLITS
            for split in splits:
                if split == BYTEWISE and len(cut) > 300:
                    continue
                # decoder: [reject][chunk spec][stream]
                seeds["decoder"].append(bytes([0]) + split + cut)
                # open, vector mode: [config: case | direction << 2][chunk spec][stream]
                seeds["open"].append(bytes([index | direction << 2]) + split + cut)
        # One tampered byte per frame, and the callback rejecting frame 1.
        for end in frames(stream)[:2]:
            bad = bytearray(stream if not big else stream[:frames(stream)[1]])
            bad[end - 1] ^= 1
            seeds["open"].append(bytes([index | direction << 2]) + WHOLE + bytes(bad))
        seeds["decoder"].append(bytes([2]) + WHOLE + stream[: frames(stream)[1]])

# decoder: length prefixes below 16, an empty-plaintext frame, a maximal body, split prefixes.
for length in (0, 1, 15, 16, 17):
    seeds["decoder"].append(bytes([0]) + BYTEWISE + struct.pack(">H", length) + bytes(max(length, 20)))
seeds["decoder"].append(bytes([0]) + bytes([2, 1, 255]) + struct.pack(">H", 65535) + bytes(65535) + b"\x00")

# open, sealed mode: [config][chunk spec][m][m x u16 len][k][k x (op, pos u24, value)][pool]
def sealed(config, split, lens, edits=(), pool=b"ttun fuzz plaintext pool"):
    out = bytes([config | 8]) + split + bytes([len(lens)]) + b"".join(struct.pack(">H", n) for n in lens)
    out += bytes([len(edits)]) + b"".join(bytes([op]) + pos.to_bytes(3, "big") + bytes([v]) for op, pos, v in edits)
    return out + pool

for cipher in (0, 1):
    for direction in (0, 4):
        c = cipher | direction
        seeds["open"] += [
            sealed(c, WHOLE, [8, 28, 0]),
            sealed(c, BYTEWISE, [8, 40]),
            sealed(c, bytes([2, 5, 130]), [1400, 1400, 60]),
            sealed(c, WHOLE, [8, 28, 40], edits=[(0, 30, 1)]),     # flip a byte in frame 1
            sealed(c, WHOLE, [8, 28, 40], edits=[(1, 60, 0)]),     # truncate inside frame 2
            sealed(c, WHOLE, [8, 28, 40], edits=[(2, 26, 0x41)]),  # insert after frame 0
            sealed(c, WHOLE, [8, 28, 40], edits=[(3, 0, 0)]),      # delete the first byte
            sealed(c | 0x20, WHOLE, [8, 8, 8, 8]),                 # counters u64::MAX-2.. : exhausted
            sealed(c | 0x30, bytes([1, 3]), [0, 0]),
            # counter u64::MAX-1 opens, then a whole (junk) frame arrives at counter u64::MAX
            sealed(c | 0x30, WHOLE, [0], edits=[(2, 18, 0)] + [(2, 19, 16)] + [(2, 20, 7)] * 16),
            sealed(c | 0x40, WHOLE, [8, 28]),                      # opened in the wrong direction
            sealed(c | 0x80, WHOLE, [8, 28]),                      # opened with the wrong cipher
        ]
seeds["open"].append(sealed(0, bytes([1, 200]), [65519, 16]))
seeds["open_ring"] = seeds["open"]

for target in targets:
    out = os.path.join(corpus_dir, target)
    os.makedirs(out, exist_ok=True)
    written = 0
    for seed in seeds[target]:
        path = os.path.join(out, "seed-" + hashlib.sha1(seed).hexdigest())
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(seed)
            written += 1
    print(f"corpus/{target}: {len(set(seeds[target]))} seeds ({written} new)")
PY
