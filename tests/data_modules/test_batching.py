import random

import pytest
import torch

from data_modules.batching import BucketBatchSampler, collate_tagging, spread_over_ranks


def lengths(n=203, seed=0):
    generator = random.Random(seed)
    return [generator.randint(1, 60) for _ in range(n)]


def test_evaluation_sees_every_example_once_across_ranks():
    sizes = lengths()
    seen = []
    for rank in range(3):
        sampler = BucketBatchSampler(sizes, 16, shuffle=False, num_replicas=3, rank=rank)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        seen += [i for batch in batches for i in batch]
    assert sorted(seen) == list(range(len(sizes)))


def test_training_ranks_get_equal_batch_counts_and_different_batches():
    sizes = lengths()
    per_rank = [list(BucketBatchSampler(sizes, 16, num_replicas=2, rank=r)) for r in range(2)]
    assert (
        len(per_rank[0]) == len(per_rank[1]) == len(BucketBatchSampler(sizes, 16, num_replicas=2))
    )
    covered = {i for batches in per_rank for batch in batches for i in batch}
    assert covered == set(range(len(sizes)))
    assert per_rank[0][0] != per_rank[1][0]


def test_buckets_keep_padding_low_and_epochs_reshuffle():
    sizes = lengths(2000)
    sampler = BucketBatchSampler(sizes, 32, pool_batches=50)
    batches = list(sampler)
    padded = sum(len(b) * max(sizes[i] for i in b) for b in batches)
    assert sum(sizes) / padded > 0.95  # random batches of these lengths waste about half
    sampler.set_epoch(1)
    assert list(sampler) != batches
    assert len(batches) == len(sampler)


def test_invalid_rank_is_rejected():
    with pytest.raises(ValueError):
        BucketBatchSampler([1, 2], 2, num_replicas=2, rank=2)


def test_collate_pads_words_chars_and_builds_the_mask():
    batch = collate_tagging(
        [
            {"word_ids": [5, 6], "char_ids": [[3], [4, 5, 6]], "tag_ids": [1, 2]},
            {"word_ids": [7], "char_ids": [[8, 9]], "tag_ids": [3]},
        ]
    )
    assert batch.words.tolist() == [[5, 6], [7, 0]]
    assert batch.tags.tolist() == [[1, 2], [3, 0]]
    assert batch.mask.tolist() == [[True, True], [True, False]]
    assert batch.lengths.tolist() == [2, 1]
    assert batch.chars.tolist() == [[[3, 0, 0], [4, 5, 6]], [[8, 9, 0], [0, 0, 0]]]
    assert batch.chars.dtype == torch.long


@pytest.mark.parametrize(
    "size, batch_size, ranks", [(10, 128, 2), (5, 128, 4), (3, 2, 2), (7, 3, 8)]
)
def test_an_evaluation_split_with_fewer_batches_than_ranks_gives_every_rank_a_batch(
    size, batch_size, ranks
):
    """10 validation pairs in one batch of 128 under 2 ranks: each rank gets 5 (Lightning stops
    a run where one rank has no batch); every example is still seen exactly once."""
    lengths = list(range(size))
    per_rank = [
        list(BucketBatchSampler(lengths, batch_size, shuffle=False, num_replicas=ranks, rank=r))
        for r in range(ranks)
    ]
    for r, batches in enumerate(per_rank):
        sampler = BucketBatchSampler(lengths, batch_size, False, num_replicas=ranks, rank=r)
        assert len(sampler) == len(batches)
        assert len(batches) == (1 if r < size else 0)
    seen = sorted(i for batches in per_rank for batch in batches for i in batch)
    assert seen == lengths
    if (size, ranks) == (10, 2):
        assert [len(b) for batches in per_rank for b in batches] == [5, 5]


def test_spread_over_ranks_halves_the_largest_batch_first():
    assert spread_over_ranks([[0, 1, 2, 3], [4, 5]], 3) == [[0, 1], [2, 3], [4, 5]]
    assert spread_over_ranks([[0], [1]], 4) == [[0], [1]]  # nothing left to split
    assert spread_over_ranks([[0, 1, 2]], 1) == [[0, 1, 2]]
