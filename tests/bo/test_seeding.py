"""Seeds: a seeded block draws the same numbers in any process and leaves torch's generator as
it found it (a study's next proposal must not depend on what ran before)."""

from __future__ import annotations

import torch

from admire.bo.seeding import derive_seed, torch_seeded


def test_a_seeded_block_draws_the_same_whatever_the_generator_held_and_restores_it():
    draws = []
    for outer in (1, 2):
        torch.manual_seed(outer)
        before = torch.random.get_rng_state()
        with torch_seeded(7):
            draws.append(torch.rand(3))
        assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(draws[0], draws[1])


def test_derived_seeds_name_their_decision():
    assert derive_seed(0, "fit", 10) == derive_seed(0, "fit", 10)
    assert len({derive_seed(0, "fit", 10), derive_seed(0, "fit", 11),
                derive_seed(1, "fit", 10), derive_seed(0, "subset", 10)}) == 4
