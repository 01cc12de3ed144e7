using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Data.Samplers;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Tests.Infrastructure;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Data;

/// <summary>One unreadable image no longer ends a training epoch: it is skipped, reported once, and replaced by
/// the next usable item, deterministically.</summary>
public sealed class UnreadableTrainingImageTests : IDisposable
{
    private readonly TempFolder _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private IReadOnlyList<TrainingItem> Items()
    {
        var clean = _tmp.Dir("clean");
        for (int i = 0; i < 4; i++) TempFolder.Random(Path.Combine(clean, $"img{i}.png"), 24, 24, seed: i);
        File.WriteAllText(Path.Combine(clean, "img2.png"), "broken on purpose");
        return CleanFolderDataset.Build(clean, ["denoise_25"]);
    }

    private static StreamingBatchOptions Options(bool failFast = false) =>
        new() { BatchSize = 2, PatchSize = 16, CropBase = 1, Seed = 7, PrefetchBatches = 1, Workers = 2, FailFast = failFast };

    private static List<(float[] X, float[] Y, long[] Tasks)> Epoch(StreamingBatchSource source, int epoch)
    {
        var batches = new List<(float[], float[], long[])>();
        foreach (var batch in source.GetBatches(epoch))
            using (batch) batches.Add((batch.Degraded.data<float>().ToArray(), batch.Target.data<float>().ToArray(), batch.TaskIds));
        return batches;
    }

    [Fact]
    public void Disposing_releases_the_cache_it_created_and_ends_its_use()
    {
        var source = new StreamingBatchSource(Items(), Options());
        Epoch(source, 1);
        Assert.True(source.Cache.Count > 0);
        source.Dispose();
        Assert.Equal(0, source.Cache.Count);
        Assert.Throws<ObjectDisposedException>(() => source.GetBatches(1));
        Assert.Throws<ObjectDisposedException>(() => source.BuildBatch(1, 0));
        source.Dispose();   // twice is fine

        // A cache passed in belongs to the caller and keeps its images.
        var shared = new ImageCache();
        using (var borrowing = new StreamingBatchSource(Items(), Options(), cache: shared)) Epoch(borrowing, 1);
        Assert.True(shared.Count > 0);
    }

    [Fact]
    public void The_epoch_completes_with_full_batches_and_the_bad_file_is_reported_once()
    {
        var logger = new ListLogger();
        var source = new StreamingBatchSource(Items(), Options(), logger: logger);
        var first = Epoch(source, 1);
        var second = Epoch(source, 2);
        Assert.Equal(2, first.Count);
        Assert.All(first.Concat(second), b => Assert.Equal(2, b.Tasks.Length));
        var skipped = Assert.Single(source.SkippedFiles);
        Assert.EndsWith("img2.png", skipped.Key);
        Assert.Contains("not a PNG, JPEG or BMP", skipped.Value);
        Assert.Single(logger.Warnings);   // once per run, not once per sample

        // Deterministic: a fresh source with the same seed gives the same batches, whatever the thread timing.
        var again = new StreamingBatchSource(Items(), Options());
        var repeat = Epoch(again, 1);
        for (int b = 0; b < first.Count; b++)
        {
            Assert.Equal(first[b].X, repeat[b].X);
            Assert.Equal(first[b].Y, repeat[b].Y);
        }
    }

    [Fact]
    public void FailFast_stops_at_the_bad_file_as_before()
    {
        var source = new StreamingBatchSource(Items(), Options(failFast: true));
        var ex = Assert.Throws<ImageDecodeException>(() => Epoch(source, 1));
        Assert.EndsWith("img2.png", ex.Path);
    }
}
