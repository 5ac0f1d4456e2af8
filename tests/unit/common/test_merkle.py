"""RFC 6962 Merkle tree: the Certificate Transparency reference vectors, and every proof of
every small tree verifies while wrong ones do not."""

from __future__ import annotations

import pytest

from frostbyte_common import merkle

# RFC 6962 reference data (certificate-transparency merkle_tree_test): leaves and roots.
DATA = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
LEAVES = [merkle.leaf_hash(d) for d in DATA]

INCLUSION = [  # (0-based leaf index, tree size, path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [  # (old size, new size, proof)
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]


def test_roots_match_the_reference_for_every_size() -> None:
    assert merkle.root([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    for n in range(1, 9):
        assert merkle.root(LEAVES[:n]).hex() == ROOTS[n - 1], n


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_the_reference(index: int, size: int, path: list[str]) -> None:
    proof = merkle.inclusion_proof(LEAVES[:size], index)
    assert [p.hex() for p in proof] == path
    root = bytes.fromhex(ROOTS[size - 1])
    assert merkle.verify_inclusion(LEAVES[index], index, size, proof, root)


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_consistency_proofs_match_the_reference(old: int, new: int, path: list[str]) -> None:
    proof = merkle.consistency_proof(LEAVES[:new], old)
    assert [p.hex() for p in proof] == path
    assert merkle.verify_consistency(old, new, bytes.fromhex(ROOTS[old - 1]),
                                     bytes.fromhex(ROOTS[new - 1]), proof)


MANY = [merkle.leaf_hash(bytes([i, i * 7 % 256])) for i in range(37)]


def test_every_inclusion_proof_verifies_and_wrong_ones_do_not() -> None:
    for n in range(1, len(MANY) + 1):
        tree = MANY[:n]
        root = merkle.root(tree)
        for i in range(n):
            proof = merkle.inclusion_proof(tree, i)
            assert merkle.verify_inclusion(tree[i], i, n, proof, root)
            assert not merkle.verify_inclusion(tree[(i + 1) % n], i, n, proof, root) or n == 1
            assert not merkle.verify_inclusion(tree[i], i, n, proof, MANY[-1])
            if proof:
                bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
                assert not merkle.verify_inclusion(tree[i], i, n, bad, root)


def test_every_consistency_proof_verifies_and_a_rewritten_history_does_not() -> None:
    for n in range(1, len(MANY) + 1):
        new_root = merkle.root(MANY[:n])
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(MANY[:n], m)
            old_root = merkle.root(MANY[:m])
            assert merkle.verify_consistency(m, n, old_root, new_root, proof), (m, n)
            if m < n:
                forged_old = merkle.root([MANY[1], *MANY[1:m]]) if m > 1 else MANY[2]
                assert not merkle.verify_consistency(m, n, forged_old, new_root, proof)
