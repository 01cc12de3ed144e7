using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Data.Degradations;
using DaRcot.Rec.Data.Samplers;
using DaRcot.Rec.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Data;

public class SamplerTests
{
    private static TrainingItem Fake(int task, string name) => new(task, "/fake/" + name + ".png", "/fake/in-" + name + ".png", null);

    [Fact]
    public void Weighted_task_mix_follows_3_to_1_weights()
    {
        // Task 0 has 2 items, task 3 has 10: the mix must follow the weights, not the item counts.
        var items = Enumerable.Range(0, 2).Select(i => Fake(0, "n" + i)).Concat(Enumerable.Range(0, 10).Select(i => Fake(3, "r" + i))).ToArray();
        var sampler = new MultiTaskSampler(items, SamplingMode.Weighted, new Dictionary<int, double> { [0] = 3, [3] = 1 }, seed: 42);
        int task0 = Enumerable.Range(0, 4000).Count(i => sampler.Draw(1, i).TaskId == 0);
        // Expected 0.75; the standard error over 4000 draws is sqrt(0.75·0.25/4000) ≈ 0.007, so ±0.03 is > 4 SE.
        Assert.InRange(task0 / 4000.0, 0.72, 0.78);
        Assert.All(Enumerable.Range(0, 100).Select(i => sampler.Draw(1, i)), d => Assert.Equal(items[d.ItemIndex].TaskId, d.TaskId));
    }

    [Fact]
    public void Shuffled_epoch_visits_every_item_once_and_differs_between_epochs()
    {
        var items = Enumerable.Range(0, 20).Select(i => Fake(i % 2 == 0 ? 1 : 4, "x" + i)).ToArray();
        var sampler = new MultiTaskSampler(items, seed: 3);
        var e1 = Enumerable.Range(0, 20).Select(i => sampler.Draw(1, i).ItemIndex).ToArray();
        var e2 = Enumerable.Range(0, 20).Select(i => sampler.Draw(2, i).ItemIndex).ToArray();
        Assert.Equal(Enumerable.Range(0, 20), e1.Order());
        Assert.NotEqual(e1, e2);
        Assert.Equal(e1, Enumerable.Range(0, 20).Select(i => sampler.Draw(1, i).ItemIndex));
    }

    [Fact]
    public void Unpaired_sampling_pairs_different_source_images()
    {
        // Five clean images, each repeated (as the official lists repeat sources): the target must never come from the
        // input's own clean image, and one input must meet several different targets.
        var items = Enumerable.Range(0, 5).SelectMany(i => Enumerable.Repeat(Fake(3, "s" + i), 3)).ToArray();
        var sampler = new MultiTaskSampler(items, SamplingMode.Weighted, seed: 1, unpaired: true);
        var draws = Enumerable.Range(0, 500).Select(i => sampler.Draw(1, i)).ToArray();
        Assert.All(draws, d => Assert.NotEqual(items[d.ItemIndex].TargetPath, items[d.TargetItemIndex].TargetPath));
        var partners = draws.Where(d => items[d.ItemIndex].TargetPath.EndsWith("s0.png")).Select(d => items[d.TargetItemIndex].TargetPath).Distinct().Count();
        Assert.Equal(4, partners);
        Assert.Throws<DaRcot.Rec.Errors.DaRcotException>(() => new MultiTaskSampler(new[] { Fake(3, "only") }, unpaired: true));
    }

    [Fact]
    public void Augmentation_modes_match_numpy_rot90_and_flipud_and_never_pick_identity()
    {
        using var x = torch.tensor(new float[] { 1, 2, 3, 4, 5, 6 }, new long[] { 1, 2, 3 });
        static float[] Values(Tensor t) => t.contiguous().data<float>().ToArray();
        // numpy: rot90([[1,2,3],[4,5,6]]) = [[3,6],[2,5],[1,4]]; flipud = [[4,5,6],[1,2,3]].
        using (var m1 = Augmentation.Apply(x, 1)) Assert.Equal(new float[] { 4, 5, 6, 1, 2, 3 }, Values(m1));
        using (var m2 = Augmentation.Apply(x, 2)) { Assert.Equal(new long[] { 1, 3, 2 }, m2.shape); Assert.Equal(new float[] { 3, 6, 2, 5, 1, 4 }, Values(m2)); }
        using (var m3 = Augmentation.Apply(x, 3)) Assert.Equal(new float[] { 1, 4, 2, 5, 3, 6 }, Values(m3));
        using (var m4 = Augmentation.Apply(x, 4)) Assert.Equal(new float[] { 6, 5, 4, 3, 2, 1 }, Values(m4));
        using (var m0 = Augmentation.Apply(x, 0)) Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, Values(m0));
        var random = new Random(5);
        var modes = Enumerable.Range(0, 2000).Select(_ => Augmentation.DrawMode(random, AugmentationPolicy.OfficialNoIdentity)).ToArray();
        Assert.DoesNotContain(0, modes);
        Assert.Equal(Enumerable.Range(1, 7), modes.Distinct().Order());
        Assert.Contains(0, Enumerable.Range(0, 200).Select(_ => Augmentation.DrawMode(random, AugmentationPolicy.IncludeIdentity)));
    }

    [Fact]
    public void Lru_cache_is_bounded_and_evicts_the_least_recently_used()
    {
        var loads = new List<string>();
        var cache = new ImageCache(capacity: 2, load: p => { loads.Add(p); return new DecodedImage(new float[3], 3, 1, 1); });
        cache.Get("a"); cache.Get("b"); cache.Get("a"); cache.Get("c"); // b is the least recently used → evicted
        Assert.Equal(2, cache.Count);
        cache.Get("a");
        cache.Get("b");
        Assert.Equal(new[] { "a", "b", "c", "b" }, loads);
    }

    [Fact]
    public void Prefetching_loader_is_deterministic_under_a_seed()
    {
        using var tmp = new TempFolder();
        var dir = tmp.Dir("clean");
        for (int i = 0; i < 4; i++) TempFolder.Random(Path.Combine(dir, $"img{i}.png"), 20 + i, 24, i);
        var items = CleanFolderDataset.Build(dir, new[] { "denoise_25", "derain" });
        StreamingBatchOptions Options(long seed, int prefetch) => new()
        {
            BatchSize = 3, PatchSize = 16, CropBase = 8, Seed = seed, PrefetchBatches = prefetch, Workers = 3, CacheCapacity = 2,
        };
        List<(float[] X, float[] Y, long[] T)> Run(long seed, int prefetch, int start = 0)
        {
            var source = new StreamingBatchSource(items, Options(seed, prefetch));
            var result = new List<(float[], float[], long[])>();
            foreach (var batch in source.GetBatches(2, start))
                using (batch)
                {
                    Assert.Equal(new long[] { batch.Count, 3, 16, 16 }, batch.Degraded.shape);
                    result.Add((batch.Degraded.data<float>().ToArray(), batch.Target.data<float>().ToArray(), batch.TaskIds));
                }
            return result;
        }

        var a = Run(7, 2);
        var b = Run(7, 2);
        var sync = Run(7, 0);
        var other = Run(8, 2);
        var tail = Run(7, 2, start: 1);

        Assert.Equal(3, a.Count); // 8 items, batch 3 → 3 batches, the last partial
        Assert.Equal(2, a[2].T.Length);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].X, b[i].X);
            Assert.Equal(a[i].Y, b[i].Y);
            Assert.Equal(a[i].T, b[i].T);
            Assert.Equal(a[i].X, sync[i].X);
        }
        Assert.Equal(a.Skip(1).Select(t => t.X), tail.Select(t => t.X));
        Assert.NotEqual(a[0].X, other[0].X);
        Assert.Equal(new long[] { 1, 1, 1, 1, 3, 3, 3, 3 }, a.SelectMany(t => t.T).Order());
    }

    [Fact]
    public void Early_stop_and_cancellation_release_the_background_loader()
    {
        using var tmp = new TempFolder();
        var dir = tmp.Dir("clean");
        for (int i = 0; i < 3; i++) TempFolder.Random(Path.Combine(dir, $"img{i}.png"), 16, 16, i);
        var items = CleanFolderDataset.Build(dir, new[] { "denoise_15" });
        var source = new StreamingBatchSource(items, new StreamingBatchOptions { BatchSize = 1, PatchSize = 8, PrefetchBatches = 1, SamplesPerEpoch = 50 });
        using (var first = source.GetBatches(1).First()) Assert.Equal(1, first.Count);
        using var cts = new CancellationTokenSource();
        int seen = 0;
        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (var batch in source.GetBatches(1, 0, cts.Token))
            {
                batch.Dispose();
                if (++seen == 2) cts.Cancel();
            }
        });
        Assert.Equal(2, seen);
    }
}

public class SamplerPassTests
{
    [Fact]
    public void Long_shuffled_epochs_make_full_passes_in_different_orders()
    {
        var items = Enumerable.Range(0, 10).Select(i => new TrainingItem(3, $"/f/{i}.png", $"/f/in{i}.png", null)).ToArray();
        var sampler = new MultiTaskSampler(items, seed: 9);
        var draws = Enumerable.Range(0, 30).Select(i => sampler.Draw(1, i).ItemIndex).ToArray();
        for (int pass = 0; pass < 3; pass++) Assert.Equal(Enumerable.Range(0, 10), draws.Skip(10 * pass).Take(10).Order());
        Assert.NotEqual(draws.Take(10), draws.Skip(10).Take(10));
    }
}

public class RealPhotoLoaderTests
{
    private readonly Xunit.Abstractions.ITestOutputHelper _output;

    public RealPhotoLoaderTests(Xunit.Abstractions.ITestOutputHelper output) => _output = output;

    [SkippableFact]
    public void Official_pipeline_on_real_photos_decodes_each_file_once_and_yields_valid_batches()
    {
        var files = new[] { "astronaut.png", "chelsea.png", "coffee.png", "camera.png" }
            .Select(n => DaRcot.Rec.Tests.Infrastructure.Fixtures.Path("images", n)).ToArray();
        var tasks = new[] { "denoise_15", "denoise_50", "derain", "dehaze", "deblur", "lowlight" }.Select(DegradationRegistry.Create).ToArray();
        var items = tasks.SelectMany(t => files.Select(f => new TrainingItem(t.TaskId, f, null, t))).ToArray();
        var source = new StreamingBatchSource(items, new StreamingBatchOptions
        {
            BatchSize = 4, PatchSize = 128, Seed = 1, PrefetchBatches = 2, Workers = 2, CacheCapacity = 8,
        });
        var watch = System.Diagnostics.Stopwatch.StartNew();
        int batches = 0;
        var seenTasks = new HashSet<long>();
        foreach (var batch in source.GetBatches(1))
            using (batch)
            {
                batches++;
                Assert.Equal(new long[] { batch.Count, 3, 128, 128 }, batch.Degraded.shape);
                Assert.Equal(batch.Degraded.shape, batch.Target.shape);
                Assert.True(batch.Degraded.min().item<float>() >= 0 && batch.Degraded.max().item<float>() <= 1);
                Assert.False(batch.Degraded.eq(batch.Target).all().item<bool>());
                foreach (var t in batch.TaskIds) seenTasks.Add(t);
            }
        watch.Stop();
        _output.WriteLine($"{batches} batches of 4×128² in {watch.Elapsed.TotalMilliseconds:F0} ms ({watch.Elapsed.TotalMilliseconds / batches:F1} ms/batch), {source.Cache.Loads} decodes");
        Assert.Equal(6, batches); // 24 items / 4
        Assert.Equal(new long[] { 0, 2, 3, 4, 5, 6 }, seenTasks.Order());
        Assert.Equal(files.Length, source.Cache.Loads); // the cache holds all four photos: each decoded once
    }
}

public class ImageCacheConcurrencyTests
{
    [Fact]
    public void Concurrent_misses_share_one_decode_and_failures_are_retried()
    {
        int loads = 0;
        var cache = new ImageCache(capacity: 4, load: _ =>
        {
            Interlocked.Increment(ref loads);
            Thread.Sleep(50);
            return new DecodedImage(new float[3], 3, 1, 1);
        });
        var results = new DecodedImage[8];
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => results[i] = cache.Get("same"));
        Assert.Equal(1, loads);
        Assert.All(results, r => Assert.Same(results[0], r));

        int attempts = 0;
        var flaky = new ImageCache(capacity: 4, load: p =>
        {
            if (++attempts == 1) throw new DaRcot.Rec.Errors.ImageDecodeException(p, "simulated");
            return new DecodedImage(new float[3], 3, 1, 1);
        });
        Assert.Throws<DaRcot.Rec.Errors.ImageDecodeException>(() => flaky.Get("f"));
        Assert.NotNull(flaky.Get("f"));
        Assert.Equal(2, attempts);
    }
}

public class PairedCropTests
{
    [Fact]
    public void Paired_crops_and_augmentations_are_aligned()
    {
        // Input and target are the same textured file: aligned crops and the same flip/rotation give identical
        // patches, any misalignment would not. Unpaired sampling of two different files must differ.
        using var tmp = new TempFolder();
        var a = TempFolder.Random(Path.Combine(tmp.Dir("x"), "a.png"), 37, 29, 1);
        var b = TempFolder.Random(Path.Combine(tmp.Dir("x"), "b.png"), 37, 29, 2);
        var items = new[] { new TrainingItem(3, a, a, null), new TrainingItem(3, b, b, null) };
        var paired = new StreamingBatchSource(items, new StreamingBatchOptions { BatchSize = 2, PatchSize = 8, CropBase = 1, SamplesPerEpoch = 20, Seed = 4 });
        Assert.False(paired.TargetsDecorrelated);
        foreach (var batch in paired.GetBatches(1))
            using (batch) Assert.True(batch.Degraded.eq(batch.Target).all().item<bool>());
        var unpaired = new StreamingBatchSource(items, new StreamingBatchOptions { BatchSize = 2, PatchSize = 8, CropBase = 1, SamplesPerEpoch = 20, Seed = 4, Unpaired = true });
        // The trainer learns from the source that its targets are unrelated images (it then refuses paired modes).
        Assert.True(((ITrainingBatchSource)unpaired).TargetsDecorrelated);
        foreach (var batch in unpaired.GetBatches(1))
            using (batch)
                for (int i = 0; i < batch.Count; i++)
                    Assert.False(batch.Degraded[i].eq(batch.Target[i]).all().item<bool>());
    }
}
