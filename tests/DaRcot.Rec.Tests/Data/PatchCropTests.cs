using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Data.Degradations;
using DaRcot.Rec.Data.Samplers;
using DaRcot.Rec.Imaging;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Data;

public class PatchCropTests
{
    [Fact]
    public void Batch_patches_are_the_source_pixels_at_the_centre_cropped_random_offset()
    {
        // A 75×53 PNG whose pixel (x, y) is (R = x, G = y, B = 7x + 3y mod 256): every value names its position.
        // Cropping to multiples of 16 keeps 64×48, dropping 11 columns (5 on the left) and 5 rows (2 on top). The
        // random patch offset is the documented draw: SampleSeed stream 2 of (seed, epoch, index), rows then columns.
        using var tmp = new TempFolder();
        var file = TempFolder.Write(Path.Combine(tmp.Dir("x"), "coords.png"), 75, 53, (x, y) => new Rgb24((byte)x, (byte)y, (byte)((7 * x + 3 * y) & 255)));
        var items = new[] { new TrainingItem(3, file, file, null) };
        const int P = 16, seed = 11, epoch = 1;
        var source = new StreamingBatchSource(items, new StreamingBatchOptions
        {
            BatchSize = 3, PatchSize = P, CropBase = 16, Seed = seed, Augmentation = AugmentationPolicy.None,
            SamplesPerEpoch = 6, PrefetchBatches = 0, Workers = 2,
        });
        int index = 0;
        var offsets = new HashSet<(int, int)>();
        foreach (var batch in source.GetBatches(epoch))
            using (batch)
            {
                Assert.Equal(new long[] { 3, 3, P, P }, batch.Target.shape);
                var target = batch.Target.contiguous().data<float>().ToArray();
                var degraded = batch.Degraded.contiguous().data<float>().ToArray();
                for (int s = 0; s < batch.Count; s++, index++)
                {
                    var random = SampleSeed.CreateRandom(seed, epoch, index, stream: 2);
                    int top = 2 + random.Next(48 - P + 1), left = 5 + random.Next(64 - P + 1);
                    offsets.Add((top, left));
                    for (int i = 0; i < P; i++)
                    for (int j = 0; j < P; j++)
                    {
                        int x = left + j, y = top + i, o = s * 3 * P * P + i * P + j;
                        Assert.Equal(x / 255f, target[o]);
                        Assert.Equal(y / 255f, target[o + P * P]);
                        Assert.Equal(((7 * x + 3 * y) & 255) / 255f, target[o + 2 * P * P]);
                        Assert.Equal(target[o], degraded[o]);
                        Assert.Equal(target[o + P * P], degraded[o + P * P]);
                        Assert.Equal(target[o + 2 * P * P], degraded[o + 2 * P * P]);
                    }
                }
            }
        Assert.Equal(6, index);
        Assert.True(offsets.Count > 1, "six samples should not all share one crop offset");
    }

    [Theory]
    [InlineData(AugmentationPolicy.None)]
    [InlineData(AugmentationPolicy.OfficialNoIdentity)]
    public void A_synthesis_context_blurs_each_patch_exactly_as_the_whole_image_is_blurred(AugmentationPolicy augmentation)
    {
        // A fixed Gaussian blur (σ 1.5: an 11×11 kernel, radius 5) on the position-coded image of the test above. With
        // a context of 5 pixels, every degraded patch must equal the same window of the whole (centre-cropped) image
        // blurred at once; patches at the image border see the mirrored image, which is what the blur's own reflect
        // padding of the whole image gives too. Without context the patch is blurred alone, and its border differs.
        using var tmp = new TempFolder();
        var file = TempFolder.Write(Path.Combine(tmp.Dir("x"), "coords.png"), 75, 53, (x, y) => new Rgb24((byte)x, (byte)y, (byte)((7 * x + 3 * y) & 255)));
        var blur = new GaussianBlur(ParameterRange.Fixed(1.5));
        var items = new[] { new TrainingItem(5, file, null, blur) };
        using var image = ImageTensor.Load(file);
        using var window = image[.., .., 2..50, 5..69].contiguous(); // centre crop to 48×64, as above
        using var wholeBlurred = BlurKernels.Apply(window, [BlurKernels.Gaussian(1.5)]).clamp(0, 1);
        const int P = 16, samples = 24;
        double Worst(int context)
        {
            using var source = new StreamingBatchSource(items, new StreamingBatchOptions
            {
                BatchSize = samples, PatchSize = P, CropBase = 16, Seed = 3, Augmentation = augmentation,
                SamplesPerEpoch = samples, PrefetchBatches = 0, Workers = 1, SynthesisContext = context,
            });
            double worst = 0;
            int index = 0;
            foreach (var batch in source.GetBatches(1))
                using (batch)
                    for (int s = 0; s < batch.Count; s++, index++)
                    {
                        // The patch position and flip/rotation are the documented draws (stream 2, rows, columns, mode),
                        // the same with and without context; the clean patch confirms them.
                        using var scope = NewDisposeScope();
                        var random = SampleSeed.CreateRandom(3, 1, index, stream: 2);
                        int top = random.Next(48 - P + 1), left = random.Next(64 - P + 1);
                        int mode = Augmentation.DrawMode(random, augmentation);
                        var cleanWindow = Augmentation.Apply(window[0, .., top..(top + P), left..(left + P)].contiguous(), mode);
                        Assert.True(cleanWindow.allclose(batch.Target[s], rtol: 0, atol: 0), $"sample {index}: clean patch is not the drawn window");
                        var expected = Augmentation.Apply(wholeBlurred[0, .., top..(top + P), left..(left + P)].contiguous(), mode);
                        worst = Math.Max(worst, (batch.Degraded[s] - expected).abs().max().item<float>());
                    }
            return worst;
        }
        double withContext = Worst(5), alone = Worst(0);
        Assert.True(withContext <= 1e-6, $"with context: max |Δ| {withContext}");
        Assert.True(alone > 0.05, $"without context the patch borders should differ, max |Δ| {alone}");
    }

    [Fact]
    public void Crop_to_tensor_copies_only_the_window_and_rejects_windows_outside_the_image()
    {
        // 2 channels of 3×4: value = 100·c + 10·y + x.
        var data = new float[2 * 3 * 4];
        for (int c = 0; c < 2; c++) for (int y = 0; y < 3; y++) for (int x = 0; x < 4; x++) data[c * 12 + y * 4 + x] = 100 * c + 10 * y + x;
        var image = new DecodedImage(data, 2, 3, 4);
        using var patch = image.CropToTensor(1, 2, 2, 2);
        Assert.Equal(new long[] { 2, 2, 2 }, patch.shape);
        Assert.Equal(new float[] { 12, 13, 22, 23, 112, 113, 122, 123 }, patch.data<float>().ToArray());
        patch.add_(1000); // the patch owns its memory: the cached values are untouched
        Assert.Equal(12f, data[6]);
        Assert.Throws<ArgumentOutOfRangeException>(() => image.CropToTensor(2, 0, 2, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => image.CropToTensor(0, 3, 1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => image.CropToTensor(-1, 0, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => image.CropToTensor(0, 0, 0, 1));
    }

    [Fact]
    public void Every_augmentation_mode_returns_a_fresh_tensor()
    {
        // Callers dispose or modify the result freely, so no mode may alias its input (mode 1 no longer clones first).
        using var x = torch.tensor(new float[] { 1, 2, 3, 4, 5, 6 }, new long[] { 1, 2, 3 });
        for (int mode = 0; mode < 8; mode++)
        {
            using var y = Augmentation.Apply(x, mode);
            y.add_(10);
            Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, x.data<float>().ToArray());
        }
    }

    [Fact]
    public void Cache_byte_bound_counts_the_pixel_bytes_it_holds()
    {
        // Each image is 3 floats = 12 bytes; a 24-byte bound keeps two, and a larger-than-bound image is not kept.
        var loads = new List<string>();
        var cache = new ImageCache(capacity: 10, maxBytes: 24, load: p => { loads.Add(p); return new DecodedImage(new float[p == "big" ? 7 : 3], 1, 1, p == "big" ? 7 : 3); });
        cache.Get("a"); cache.Get("b"); cache.Get("c"); // a evicted by bytes, not by count
        Assert.Equal(2, cache.Count);
        cache.Get("big");
        Assert.Equal(2, cache.Count);
        cache.Get("b"); cache.Get("c"); cache.Get("a");
        Assert.Equal(new[] { "a", "b", "c", "big", "a" }, loads);
    }
}
