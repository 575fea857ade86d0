"""Signed notes, checkpoints and cosignatures: published vectors, round trips, and tampering."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import note
from crypto.note import Checkpoint, Cosignature, NoteError

VECTORS = Path(__file__).parents[2] / "vectors" / "note"
GO = json.loads((VECTORS / "go_note.json").read_text())
PB = json.loads((VECTORS / "postbox.json").read_text())
DASH = "\u2014"


def seed(label: str) -> bytes:
    return hashlib.sha256(f"postbox test vector: {label}".encode()).digest()


LOG_SK, LOG_VK = note.generate_signer("postbox.example/log", seed("log"))
W1_SK, W1_VK = note.generate_cosigner("witness.example/w1", seed("w1"))
W2_SK, W2_VK = note.generate_cosigner("witness.example/w2", seed("w2"))
ROOT = hashlib.sha256(b"root").digest()
BODY = note.format_checkpoint(Checkpoint("postbox.example/log", 17, ROOT))


# --- Go's golang.org/x/mod/sumdb/note vectors ----------------------------------------------------


def test_go_sign_vector() -> None:
    assert note.sign_note(GO["text"], [GO["peter_signer"]]).decode() == GO["peter_note"]
    assert note.verifier_key(GO["peter_signer"]) == GO["peter_verifier"]


def test_go_open_vectors() -> None:
    signed = (GO["peter_note"] + GO["enoch_line"]).encode()
    assert note.open_note(signed, [GO["peter_verifier"]]) == (GO["text"], ("PeterNeumann",), ())
    both = note.open_note(signed, [GO["peter_verifier"], GO["enoch_verifier"]])
    assert both.signers == ("PeterNeumann", "EnochRoot")
    with pytest.raises(NoteError, match="no signature by a known key"):
        note.open_note(signed, [])


def test_go_invalid_signature_vector() -> None:
    line = GO["peter_note"].split("\n\n")[1]
    bad = GO["text"] + "\n" + line[:60] + "ABCD" + line[60:]
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann"):
        note.open_note(bad.encode(), [GO["peter_verifier"]])


@pytest.mark.parametrize("which", ["peter_verifier", "peter_signer"])
def test_go_mangled_keys_are_refused(which: str) -> None:
    key = GO[which]
    use = (lambda k: note.sign_note("hi\n", [k])) if "signer" in which else (
        lambda k: note.open_note(GO["peter_note"].encode(), [k]))
    use(key)
    mangled = {key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1)}
    mangled |= {key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))}
    mangled.discard(key)
    for bad in mangled:
        with pytest.raises(NoteError):
            use(bad)


def test_go_malformed_messages() -> None:
    text, sig = GO["text"], GO["peter_note"].split("\n\n")[1]
    for bad in [
        text,
        text + "\n",
        text + "\n" + sig[:-1],
        "\x01" + text + "\n" + sig,
        text + "\n" + f"{DASH} Bad Name " + sig.split(" ")[2],
        text + "\n" + sig + "Unexpected line.\n",
    ]:
        with pytest.raises(NoteError):
            note.open_note(bad.encode(), [GO["peter_verifier"]])
    with pytest.raises(NoteError, match="UTF-8"):
        note.open_note(b"\xff" + (text + "\n" + sig).encode(), [GO["peter_verifier"]])
    with pytest.raises(NoteError, match="more than 100"):
        note.open_note((text + "\n" + sig * 101).encode(), [GO["peter_verifier"]])


# --- our own vectors, from fixed seeds -----------------------------------------------------------


def note_vectors() -> dict:
    """What tests/vectors/note/generate.py writes to postbox.json (Ed25519 is deterministic)."""
    root = bytes.fromhex(json.loads((VECTORS.parent / "merkle/reference.json").read_text())["roots"][17])
    body = note.format_checkpoint(Checkpoint("postbox.example/log", 17, root, ("extension line",)))
    signed = note.sign_note(body, [LOG_SK])
    lines = [note.cosign(body, W1_SK, 1_700_000_000), note.cosign(body, W2_SK, 1_700_000_042)]
    return {
        "about": "Keys from seeds SHA-256('postbox test vector: <label>'), checkpoint over the "
        "size-17 root of tests/vectors/merkle/reference.json, cosigned by two witnesses",
        "log": {"seed": seed("log").hex(), "signer": LOG_SK, "verifier": LOG_VK},
        "witnesses": [
            {"seed": seed("w1").hex(), "signer": W1_SK, "verifier": W1_VK, "time": 1_700_000_000},
            {"seed": seed("w2").hex(), "signer": W2_SK, "verifier": W2_VK, "time": 1_700_000_042},
        ],
        "checkpoint": body,
        "signed": signed.decode(),
        "cosignature_lines": lines,
        "cosigned": note.append_signatures(signed, lines).decode(),
    }


def test_checked_in_postbox_vectors() -> None:
    assert PB == note_vectors(), "signing is deterministic: the vectors must not drift"
    checkpoint, cosigs = note.open_checkpoint(
        PB["cosigned"].encode(), PB["log"]["verifier"], [w["verifier"] for w in PB["witnesses"]])
    assert checkpoint.size == 17 and checkpoint.extensions == ("extension line",)
    assert cosigs == (Cosignature("witness.example/w1", 1_700_000_000),
                      Cosignature("witness.example/w2", 1_700_000_042))


def _decode_vkey(vkey: str) -> tuple[str, bytes, int, bytes]:
    name, key_id, key64 = vkey.split("+", 2)
    raw = base64.b64decode(key64)
    return name, bytes.fromhex(key_id), raw[0], raw[1:]


def test_vectors_follow_the_specs_checked_without_crypto_note() -> None:
    body = PB["checkpoint"]
    name, key_id, kind, public = _decode_vkey(PB["log"]["verifier"])
    assert kind == 1 and key_id == hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    text, block = PB["cosigned"].rsplit("\n\n", 1)
    assert text + "\n" == body
    log_line, *witness_lines = block.rstrip("\n").split("\n")
    raw = base64.b64decode(log_line.split(" ")[2])
    assert log_line.startswith(f"{DASH} {name} ") and raw[:4] == key_id
    Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], body.encode())
    for w, line in zip(PB["witnesses"], witness_lines):
        name, key_id, kind, public = _decode_vkey(w["verifier"])
        assert kind == 4 and key_id == hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
        raw = base64.b64decode(line.split(" ")[2])
        assert len(raw) == 4 + 8 + 64 and raw[:4] == key_id
        assert int.from_bytes(raw[4:12], "big") == w["time"]
        message = f"cosignature/v1\ntime {w['time']}\n".encode() + body.encode()
        Ed25519PublicKey.from_public_bytes(public).verify(raw[12:], message)


def test_c2sp_example_parses() -> None:
    example = (
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
        f"{DASH} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
        "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
        f"{DASH} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dl"
        "rDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    )
    cp = note.parse_checkpoint(example.split("\n\n")[0] + "\n")
    assert (cp.origin, cp.size) == ("example.com/behind-the-sofa", 20852163)
    # Well-formed, but we hold none of its keys: unknown signatures are ignored, not trusted.
    with pytest.raises(NoteError, match="no signature by a known key"):
        note.open_note(example.encode(), [W1_VK])


# --- signed notes --------------------------------------------------------------------------------

note_text = st.text(
    st.one_of(st.just("\n"), st.characters(exclude_categories=["Cs", "Cc"])), max_size=200
).map(lambda s: s + "\n")


@settings(max_examples=60, deadline=None)
@given(text=note_text)
def test_sign_open_round_trip(text: str) -> None:
    signed = note.sign_note(text, [LOG_SK])
    assert note.open_note(signed, [LOG_VK, W1_VK]) == (text, ("postbox.example/log",), ())


def test_two_signers_and_unknown_signatures() -> None:
    other_sk, other_vk = note.generate_signer("other.example/key")
    signed = note.sign_note("hello\n\nworld\n", [LOG_SK, other_sk])
    assert note.open_note(signed, [LOG_VK]).signers == ("postbox.example/log",)
    assert note.open_note(signed, [other_vk, LOG_VK]).signers == ("postbox.example/log",
                                                                   "other.example/key")
    assert note.open_note(note.sign_note("\n", [LOG_SK]), [LOG_VK]).text == "\n"


def test_every_flipped_bit_fails() -> None:
    signed = note.sign_note("postbox.example/log\n3\n" + "A" * 43 + "=\n", [LOG_SK])
    for i in range(len(signed)):
        for mask in (0x01, 0x20, 0x80):
            bad = bytearray(signed)
            bad[i] ^= mask
            with pytest.raises(NoteError):
                note.open_note(bytes(bad), [LOG_VK])


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _relabel(line: str, key_id: bytes) -> str:
    prefix, sig64 = line.rsplit(" ", 1)
    return f"{prefix} {base64.b64encode(key_id + base64.b64decode(sig64)[4:]).decode()}"


def test_tampered_notes_fail() -> None:
    signed = note.sign_note("evidence\n", [LOG_SK]).decode()
    text, line = signed.split("\n\n")
    _, unknown_vk = note.generate_signer("postbox.example/log")  # same name, other key
    cases = {
        "wrong key ID": text + "\n\n" + _relabel(line, b"\x00\x00\x00\x00"),
        "duplicate line": signed + line,
        "missing blank line": text + "\n" + line,
        "CRLF": signed.replace("\n", "\r\n"),
        "trailing data": signed + "x",
        "trailing newline": signed + "\n",
        "trailing line": signed + "more\n",
        "no newline at end": signed[:-1],
        "non-canonical base64": signed[:-3] + _B64[_B64.index(signed[-3]) ^ 1] + "=\n",
        "name with space": signed.replace("postbox.example/log", "postbox example/log"),
        "nothing": "",
    }
    for what, bad in cases.items():
        with pytest.raises(NoteError):
            note.open_note(bad.encode(), [LOG_VK])
            pytest.fail(what)
    with pytest.raises(NoteError, match="no signature by a known key"):
        note.open_note(signed.encode(), [unknown_vk])
    with pytest.raises(NoteError, match="duplicate"):
        note.open_note((signed + line).encode(), [LOG_VK])
    # A duplicated line from a key we do not know is ignored, as signed-note asks.
    other_sk, _ = note.generate_signer("other.example/key")
    extra = note.sign_note("evidence\n", [other_sk]).decode().split("\n\n")[1]
    assert note.open_note((signed + extra + extra).encode(), [LOG_VK]).text == "evidence\n"


def test_size_limit() -> None:
    big = "x" * (note.MAX_NOTE_SIZE - 200) + "\n"
    signed = note.sign_note(big, [LOG_SK])
    assert note.open_note(signed, [LOG_VK]).text == big
    with pytest.raises(NoteError, match="1 MiB"):
        note.sign_note("x" * note.MAX_NOTE_SIZE + "\n", [LOG_SK])
    too_big = ("x" * note.MAX_NOTE_SIZE + "\n").encode() + signed[-100:]
    with pytest.raises(NoteError, match="1 MiB"):
        note.open_note(too_big, [LOG_VK])


def test_bad_keys_and_names() -> None:
    for name in ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\nb", "a\x01b"]:
        with pytest.raises(NoteError):
            note.generate_signer(name)
    with pytest.raises(NoteError):
        note.generate_signer("ok", b"short seed")
    with pytest.raises(NoteError):
        note.sign_note("no newline", [LOG_SK])
    with pytest.raises(NoteError):
        note.sign_note("carriage\r\n", [LOG_SK])
    with pytest.raises(NoteError):
        note.sign_note("text\n", [])
    with pytest.raises(NoteError):
        note.sign_note("text\n", [LOG_SK, LOG_SK])
    with pytest.raises(NoteError, match="cosign"):
        note.sign_note("text\n", [W1_SK])
    with pytest.raises(NoteError):
        note.sign_note("text\n", [LOG_VK])  # a public key is not a signer key
    with pytest.raises(NoteError, match="ambiguous"):
        note.open_note(note.sign_note("t\n", [LOG_SK]), [LOG_VK, *_colliding_verifiers("x")])


def _colliding_verifiers(name: str) -> list[str]:
    """Two verifier keys with one name and one key ID, by a birthday search over the 32-bit ID."""
    seen: dict[bytes, bytes] = {}
    i = 0
    while True:
        public = hashlib.sha256(i.to_bytes(8, "big")).digest()
        key_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
        if key_id in seen:
            break
        seen[key_id] = public
        i += 1
    return [f"{name}+{key_id.hex()}+{base64.b64encode(bytes([1]) + p).decode()}"
            for p in (seen[key_id], public)]


# --- checkpoints ---------------------------------------------------------------------------------


def test_checkpoint_round_trip() -> None:
    for cp in [Checkpoint("postbox.example/log", 0, ROOT),
               Checkpoint("o", 2**63 - 1, ROOT, ("ext 1", "ext 2"))]:
        assert note.parse_checkpoint(note.format_checkpoint(cp)) == cp
    assert BODY == "postbox.example/log\n17\n" + base64.b64encode(ROOT).decode() + "\n"


@pytest.mark.parametrize("bad", [
    "o\n17\n{root}",  # no final newline
    "o\n17\n",
    "\n17\n{root}\n",  # empty origin
    "o\n017\n{root}\n",  # leading zero
    "o\n-1\n{root}\n",
    "o\n+1\n{root}\n",
    "o\n 1\n{root}\n",
    "o\n1.0\n{root}\n",
    "o\n9223372036854775808\n{root}\n",  # 2^63
    "o\n17\n{short}\n",
    "o\n17\n{root_nopad}\n",
    "o\n17\n{root}\n\n",  # empty extension line
    "o\n17\n{root}\next\n\n",
])
def test_checkpoint_parse_is_strict(bad: str) -> None:
    text = bad.format(root=base64.b64encode(ROOT).decode(),
                      short=base64.b64encode(ROOT[:31]).decode(),
                      root_nopad=base64.b64encode(ROOT).decode().rstrip("="))
    with pytest.raises(NoteError):
        note.parse_checkpoint(text)


def test_checkpoint_values_are_validated() -> None:
    for args in [("", 1, ROOT), ("o\nx", 1, ROOT), ("o", -1, ROOT), ("o", True, ROOT),
                 ("o", 1, ROOT[:31]), ("o", 1, ROOT, ("",)), ("o", 1, ROOT, ("a\rb",))]:
        with pytest.raises(NoteError):
            Checkpoint(*args)  # type: ignore[arg-type]


def test_open_checkpoint_requires_the_log_signature() -> None:
    signed = note.sign_note(BODY, [LOG_SK])
    assert note.open_checkpoint(signed, LOG_VK) == (note.parse_checkpoint(BODY), ())
    witness_only = BODY.encode() + b"\n" + note.cosign(BODY, W1_SK, 5).encode()
    with pytest.raises(NoteError, match="not signed by the log"):
        note.open_checkpoint(witness_only, LOG_VK, [W1_VK])
    other_sk, other_vk = note.generate_signer("other.example/log")
    with pytest.raises(NoteError, match="origin"):
        note.open_checkpoint(note.sign_note(BODY, [other_sk]), other_vk)
    with pytest.raises(NoteError):
        note.open_checkpoint(note.sign_note("not\na checkpoint\n", [LOG_SK]), LOG_VK)
    with pytest.raises(NoteError):
        note.open_checkpoint(signed, W1_VK)
    # Only cosignature/v1 keys count as witnesses: a second log-named Ed25519 key may not.
    _, impostor_vk = note.generate_signer("postbox.example/log", seed("impostor"))
    with pytest.raises(NoteError, match="not a cosignature/v1 key"):
        note.open_checkpoint(signed, LOG_VK, [impostor_vk])


# --- cosignatures --------------------------------------------------------------------------------


def test_cosignature_round_trip() -> None:
    line = note.cosign(BODY, W1_SK, 1_700_000_000)
    assert line.startswith(f"{DASH} witness.example/w1 ") and line.endswith("\n")
    assert note.verify_cosignature(BODY, line, W1_VK) == 1_700_000_000
    cosigned = note.append_signatures(note.sign_note(BODY, [LOG_SK]),
                                      [line, note.cosign(BODY, W2_SK, 0)])
    opened = note.open_note(cosigned, [LOG_VK, W1_VK, W2_VK])
    assert opened.signers == ("postbox.example/log",)
    assert opened.cosignatures == (Cosignature("witness.example/w1", 1_700_000_000),
                                   Cosignature("witness.example/w2", 0))
    assert note.open_note(cosigned, [W2_VK]).cosignatures == (Cosignature("witness.example/w2", 0),)


def _retime(line: str, timestamp: int) -> str:
    prefix, sig64 = line.rstrip("\n").rsplit(" ", 1)
    raw = base64.b64decode(sig64)
    return f"{prefix} {base64.b64encode(raw[:4] + timestamp.to_bytes(8, 'big') + raw[12:]).decode()}\n"


def test_tampered_cosignatures_fail() -> None:
    line = note.cosign(BODY, W1_SK, 1_700_000_000)
    other_body = note.format_checkpoint(Checkpoint("postbox.example/log", 18, ROOT))
    signed = note.sign_note(BODY, [LOG_SK])
    for body, bad_line, vkey in [
        (other_body, line, W1_VK),  # another checkpoint
        (BODY, _retime(line, 1_700_000_001), W1_VK),  # another time
        (BODY, _retime(line, 2**63), W1_VK),  # a time beyond the format
        (BODY, line, W2_VK),  # another witness
        (BODY, _relabel(line.rstrip("\n"), b"\x01\x02\x03\x04"), W1_VK),
        (BODY, line.replace("w1", "w2"), W2_VK),
        (BODY, line[:40] + ("B" if line[40] == "A" else "A") + line[41:], W1_VK),
        (BODY, line, LOG_VK),  # not a witness key
    ]:
        with pytest.raises(NoteError):
            note.verify_cosignature(body, bad_line, vkey)
    with pytest.raises(NoteError, match="invalid signature"):
        note.open_note(note.append_signatures(signed, [_retime(line, 1)]), [LOG_VK, W1_VK])
    # A plain, untimed Ed25519 signature by the witness key is not a cosignature.
    plain = Ed25519PrivateKey.from_private_bytes(seed("w1")).sign(BODY.encode())
    key_id = base64.b64decode(line.split(" ")[2])[:4]
    untimed = f"{DASH} witness.example/w1 {base64.b64encode(key_id + plain).decode()}\n"
    with pytest.raises(NoteError, match="wrong length"):
        note.open_note(note.append_signatures(signed, [untimed]), [LOG_VK, W1_VK])


def test_cosign_refuses_bad_input() -> None:
    for body, key, now in [
        ("not a checkpoint\n", W1_SK, 1),
        (BODY, LOG_SK, 1),  # a note key, not a witness key
        (BODY, W1_SK, -1),
        (BODY, W1_SK, 2**63),
        (BODY, W1_SK, True),
    ]:
        with pytest.raises(NoteError):
            note.cosign(body, key, now)  # type: ignore[arg-type]
    with pytest.raises(NoteError):
        note.append_signatures(note.sign_note(BODY, [LOG_SK]), ["no newline"])
    with pytest.raises(NoteError):
        note.append_signatures(note.sign_note(BODY, [LOG_SK]), ["not a signature\n"])


def _hand_signed(text: str) -> bytes:
    """A note whose signature is genuine but built around crypto.note's own checks."""
    sig = Ed25519PrivateKey.from_private_bytes(seed("log")).sign(text.encode())
    key_id = bytes.fromhex(LOG_VK.split("+")[1])
    line = f"{DASH} postbox.example/log {base64.b64encode(key_id + sig).decode()}\n"
    return (text + "\n" + line).encode()


def test_control_characters_are_refused_even_when_signed() -> None:
    assert note.open_note(_hand_signed("fine\n"), [LOG_VK]).text == "fine\n"
    for text in ["bell\x07\n", "cr\r\n", "tab\there\n", "nul\x00\n"]:
        with pytest.raises(NoteError, match="control character"):
            note.open_note(_hand_signed(text), [LOG_VK])


def test_cosignature_time_beyond_2_63_is_refused_even_when_signed() -> None:
    too_late = 2**63
    message = f"cosignature/v1\ntime {too_late}\n".encode() + BODY.encode()
    sig = Ed25519PrivateKey.from_private_bytes(seed("w1")).sign(message)
    key_id = bytes.fromhex(W1_VK.split("+")[1])
    payload = key_id + too_late.to_bytes(8, "big") + sig
    line = f"{DASH} witness.example/w1 {base64.b64encode(payload).decode()}\n"
    with pytest.raises(NoteError, match="invalid time"):
        note.verify_cosignature(BODY, line, W1_VK)


def test_verifier_key_id_must_match_its_key() -> None:
    # Relabel both the key and the signature line with another ID: the signature itself is
    # genuine, so only the key ID check stands between this and acceptance.
    signed = note.sign_note("evidence\n", [LOG_SK]).decode()
    text, line = signed.split("\n\n")
    relabelled = text + "\n\n" + _relabel(line.rstrip("\n"), b"\x00\x00\x00\x00") + "\n"
    name, _, key64 = LOG_VK.split("+", 2)
    with pytest.raises(NoteError, match="does not match"):
        note.open_note(relabelled.encode(), [f"{name}+00000000+{key64}"])
