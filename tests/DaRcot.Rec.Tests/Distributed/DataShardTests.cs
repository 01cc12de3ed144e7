using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Data.Samplers;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Tests.Data;
using DaRcot.Rec.Tests.Training;
using DaRcot.Rec.Training;
using DaRcot.Rec.Training.Distributed;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Distributed;

/// <summary>How a global batch is split over ranks, the rank-count check, and the sources that give one rank's rows.</summary>
public sealed class DataShardTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("darcot-shard-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData(4, 2, new[] { 0, 2 }, new[] { 2, 2 })]
    [InlineData(8, 4, new[] { 0, 2, 4, 6 }, new[] { 2, 2, 2, 2 })]
    [InlineData(5, 2, new[] { 0, 3 }, new[] { 3, 2 })]        // a short last batch: sizes differ by one at most
    [InlineData(7, 3, new[] { 0, 3, 5 }, new[] { 3, 2, 2 })]
    [InlineData(1, 2, new[] { 0, 1 }, new[] { 1, 0 })]        // fewer rows than ranks: the trainer skips such a batch
    [InlineData(3, 1, new[] { 0 }, new[] { 3 })]
    public void Shards_are_contiguous_in_rank_order_and_cover_the_batch(int global, int ranks, int[] offsets, int[] counts)
    {
        var shards = Enumerable.Range(0, ranks).Select(r => DataShard.Of(global, r, ranks)).ToList();
        Assert.Equal(offsets, shards.Select(s => s.Offset));
        Assert.Equal(counts, shards.Select(s => s.Count));
        Assert.All(shards, s => Assert.Equal(global, s.GlobalCount));
        Assert.Equal(global, shards.Sum(s => s.Count));
        Assert.Equal(1.0, shards.Sum(s => s.Fraction), 12);
    }

    [Fact]
    public void A_rank_outside_the_job_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => DataShard.Of(4, 2, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => DataShard.Of(4, -1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => DataShard.Of(4, 0, 0));
    }

    [Fact]
    public void A_rank_count_that_does_not_divide_the_global_batch_is_a_typed_error()
    {
        DataShard.EnsureDivides(8, 4);
        DataShard.EnsureDivides(6, 1);
        var e = Assert.Throws<RankCountException>(() => DataShard.EnsureDivides(4, 3));
        Assert.Equal(3, e.Ranks);
        Assert.Equal(4, e.GlobalBatch);
        Assert.Contains("1, 2, 4", e.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<DaRcotException>(e);
    }

    [Fact]
    public void ShardedBatchSource_gives_each_rank_its_rows_of_every_batch()
    {
        var source = new RandomBatchSource(batchesPerEpoch: 2, batchSize: 4);
        var whole = source.GetBatches(1).ToList();
        var ranks = Enumerable.Range(0, 2).Select(r => new ShardedBatchSource(source, r, 2).GetBatches(1).ToList()).ToList();
        for (var b = 0; b < whole.Count; b++)
        {
            using var joinedX = cat([ranks[0][b].Degraded, ranks[1][b].Degraded], 0);
            using var joinedY = cat([ranks[0][b].Target, ranks[1][b].Target], 0);
            Assert.True(joinedX.eq(whole[b].Degraded).all().item<bool>());
            Assert.True(joinedY.eq(whole[b].Target).all().item<bool>());
            Assert.Equal(whole[b].TaskIds, ranks[0][b].TaskIds.Concat(ranks[1][b].TaskIds));
            Assert.Equal((0, 2, 4), (ranks[0][b].GlobalOffset, ranks[0][b].Count, ranks[0][b].GlobalCount));
            Assert.Equal((2, 2, 4), (ranks[1][b].GlobalOffset, ranks[1][b].Count, ranks[1][b].GlobalCount));
        }
        foreach (var batch in whole.Concat(ranks.SelectMany(r => r))) batch.Dispose();
    }

    [Fact]
    public void StreamingBatchSource_builds_only_the_rank_rows_and_they_equal_the_whole_batch()
    {
        for (var i = 0; i < 5; i++) TempFolder.Random(Path.Combine(dir, $"img{i}.png"), 40, 40, seed: 70 + i);
        var items = CleanFolderDataset.Build(dir, ["denoise_25", "derain"]);
        StreamingBatchSource Source(int rank, int ranks) => new(items, new StreamingBatchOptions
        {
            BatchSize = 4, PatchSize = 16, SamplesPerEpoch = 10, Workers = 1, Seed = 3, PrefetchBatches = 0, ShardIndex = rank, ShardCount = ranks,
        });
        using var one = Source(0, 1);
        using var r0 = Source(0, 2);
        using var r1 = Source(1, 2);
        Assert.Equal(3, r0.BatchesPerEpoch);
        for (var b = 0; b < 3; b++)
        {
            using var whole = one.BuildBatch(2, b);
            using var a = r0.BuildBatch(2, b);
            using var c = r1.BuildBatch(2, b);
            using var joined = cat([a.Degraded, c.Degraded], 0);
            Assert.True(joined.eq(whole.Degraded).all().item<bool>(), $"batch {b}");
            Assert.Equal(whole.TaskIds, a.TaskIds.Concat(c.TaskIds));
            Assert.Equal(whole.Count, a.GlobalCount);
            Assert.Equal(a.Count, c.GlobalOffset);
        }
        // The last batch holds 2 of 10 samples: one row each.
        using var last = r1.BuildBatch(1, 2);
        Assert.Equal((1, 1, 2), (last.GlobalOffset, last.Count, last.GlobalCount));
        Assert.Throws<ArgumentOutOfRangeException>(() => new StreamingBatchSource(items, new StreamingBatchOptions { ShardIndex = 2, ShardCount = 2 }));
    }
}
