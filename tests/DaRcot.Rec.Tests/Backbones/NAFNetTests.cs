using System.Text.Json;
using DaRcot.Rec.Backbones;
using DaRcot.Rec.Backbones.Blocks;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Backbones;

public class NAFNetTests
{
    private static readonly NAFNetConfig Tiny = new() { Width = 8, MiddleBlkNum = 1, EncBlkNums = [1, 1, 1, 1], DecBlkNums = [1, 1, 1, 1] };
    private static readonly NAFNetConfig GoPro32 = new() { Width = 32, MiddleBlkNum = 1, EncBlkNums = [1, 1, 1, 28], DecBlkNums = [1, 1, 1, 1] };

    private static long Params(nn.Module m) => m.parameters().Sum(p => p.numel());

    [SkippableFact]
    public void GoPro_configs_have_the_official_parameter_and_key_counts()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("parity", "reference_param_counts.json")));
        using (var w32 = NAFNet.Create(GoPro32 with { Tlc = true }))
        {
            Assert.Equal(doc.RootElement.GetProperty("NAFNet_width32_GoPro_params").GetInt64(), Params(w32));
            Assert.Equal(664, w32.state_dict().Count);
        }
        using var w64 = NAFNet.Create(GoPro32 with { Width = 64 });
        Assert.Equal(doc.RootElement.GetProperty("NAFNet_width64_GoPro_params").GetInt64(), Params(w64));
        Assert.Equal(664, w64.state_dict().Count);
    }

    [Fact]
    public void Keys_and_shapes_follow_the_official_tree()
    {
        using var model = NAFNet.Create(Tiny);
        var sd = model.state_dict();
        var expected = new Dictionary<string, long[]>
        {
            ["intro.weight"] = [8, 3, 3, 3],
            ["intro.bias"] = [8],
            ["ending.weight"] = [3, 8, 3, 3],
            ["encoders.0.0.beta"] = [1, 8, 1, 1],
            ["encoders.0.0.gamma"] = [1, 8, 1, 1],
            ["encoders.0.0.conv1.weight"] = [16, 8, 1, 1],
            ["encoders.0.0.conv2.weight"] = [16, 1, 3, 3],
            ["encoders.0.0.conv3.weight"] = [8, 8, 1, 1],
            ["encoders.0.0.sca.1.weight"] = [8, 8, 1, 1],
            ["encoders.0.0.sca.1.bias"] = [8],
            ["encoders.0.0.conv4.weight"] = [16, 8, 1, 1],
            ["encoders.0.0.conv5.weight"] = [8, 8, 1, 1],
            ["encoders.0.0.norm1.weight"] = [8],
            ["encoders.3.0.norm2.bias"] = [64],
            ["downs.0.weight"] = [16, 8, 2, 2],
            ["downs.3.bias"] = [128],
            ["middle_blks.0.conv1.weight"] = [256, 128, 1, 1],
            ["ups.0.0.weight"] = [256, 128, 1, 1],
            ["ups.3.0.weight"] = [32, 16, 1, 1],
            ["decoders.0.0.conv3.weight"] = [64, 64, 1, 1],
            ["decoders.3.0.conv3.weight"] = [8, 8, 1, 1],
        };
        foreach (var (key, shape) in expected)
        {
            Assert.True(sd.ContainsKey(key), $"missing {key}");
            Assert.Equal(shape, sd[key].shape);
        }
        Assert.DoesNotContain("ups.0.0.bias", sd.Keys);
        Assert.DoesNotContain(sd.Keys, k => k.Contains("sca.0", StringComparison.Ordinal));
        Assert.Equal(9 * 18 + 16, sd.Count); // 9 blocks × 18 keys + 16 others (backbones.md §2.5)
        Assert.Equal(16, model.SizeMultiple);
    }

    [Fact]
    public void Tlc_kernels_are_the_official_constants()
    {
        // backbones.md §2.3: base 1.5·256 = 384 scaled per level: 384, 192, 96, 48 and 24 for the middle blocks.
        Assert.Equal(new long[] { 384, 192, 96, 48, 24 }, Enumerable.Range(0, 5).Select(l => NAFNet.TlcKernel(GoPro32, l)).ToArray());
    }

    [Fact]
    public void Local_pool_is_the_mean_of_every_window_replicated_to_the_border()
    {
        // 1×1×3×5 ramp, kernel 2×2: windows give 2×4; Δh = 1, Δw = 1 → pad left 0, right 1, top 0, bottom 1.
        var values = Enumerable.Range(0, 15).Select(v => (float)(v * v % 7)).ToArray();
        using var x = tensor(values).reshape(1, 1, 3, 5);
        using var pool = new LocalAvgPool2d(2, 2);
        using var y = pool.forward(x);
        Assert.Equal(new long[] { 1, 1, 3, 5 }, y.shape);
        for (var i = 0; i < 3; i++)
            for (var j = 0; j < 5; j++)
            {
                int wi = Math.Min(i, 1), wj = Math.Min(j, 3); // replicate: the last row/column repeats window 1/3
                var mean = (values[wi * 5 + wj] + values[wi * 5 + wj + 1] + values[(wi + 1) * 5 + wj] + values[(wi + 1) * 5 + wj + 1]) / 4f;
                Assert.Equal(mean, y[0, 0, i, j].item<float>(), 5);
            }

        // Kernel ≥ both sides: the ordinary global mean.
        using var big = new LocalAvgPool2d(5, 5);
        using var g = big.forward(x);
        Assert.Equal(values.Average(), g.mean().item<float>(), 4);
        Assert.Equal(new long[] { 1, 1, 1, 1 }, g.shape);

        // Kernel 3×3 on 3×5: kh = min(3,3); 1×3 windows, padded left 1, right 1 (Δw = 2), top/bottom 0.
        using var k3 = new LocalAvgPool2d(3, 3);
        using var z = k3.forward(x);
        float Window(int j0) { float s = 0; for (var a = 0; a < 3; a++) for (var b = j0; b < j0 + 3; b++) s += values[a * 5 + b]; return s / 9f; }
        var expectedRow = new[] { Window(0), Window(0), Window(1), Window(2), Window(2) };
        for (var j = 0; j < 5; j++) Assert.Equal(expectedRow[j], z[0, 0, 2, j].item<float>(), 5);
    }

    [Fact]
    public void Local_pool_equals_libtorch_window_means_and_is_cheap_for_large_kernels()
    {
        using var x = rand(2, 3, 12, 20, generator: new Generator(8));
        using var pool = new LocalAvgPool2d(5, 7);
        using var ours = pool.forward(x);
        // Independent reference: libtorch's avg_pool2d (stride 1, no padding) + the documented replicate pad
        // (Δh = 4 → top 2, bottom 2; Δw = 6 → left 3, right 3).
        using var windows = nn.functional.avg_pool2d(x, [5L, 7L], [1L, 1L]);
        using var reference = nn.functional.pad(windows, [3L, 3L, 2L, 2L], PaddingModes.Replicate);
        Assert.True((ours - reference).abs().max().item<float>() < 1e-6);

        // The official kernel 384 on a 1/1-scale 720×1280-like feature: an integral image, not 384² work per pixel.
        using var big = rand(1, 8, 400, 640, generator: new Generator(9));
        using var wide = new LocalAvgPool2d(384, 384);
        using var y = wide.forward(big);
        Assert.Equal(big.shape, y.shape);
        using var corner = big[.., .., ..384, ..384].mean([2L, 3L]);
        Assert.True((y[.., .., 0, 0] - corner).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    public void Tlc_changes_nothing_below_the_kernel_and_something_above_it()
    {
        // tlc_train_size 16 → level-0 kernel 24, level 1: 12, ..., middle (1/16): 1·24/16 = 1.
        using var plain = NAFNet.Create(Tiny with { MiddleBlkNum = 0 });
        using var local = NAFNet.Create(Tiny with { MiddleBlkNum = 0, Tlc = true, TlcTrainSize = 16 });
        Assert.Equal(new long[] { 24, 12, 6, 3 }, Enumerable.Range(0, 4).Select(l => NAFNet.TlcKernel(local.Config, l)).ToArray());
        using (no_grad())
        {
            var src = plain.state_dict();
            // β and γ start at zero, which would bypass the pools; give every parameter a value.
            var gen = new Generator(3);
            foreach (var p in plain.parameters()) p.copy_(rand(p.shape, generator: gen) - 0.5);
            foreach (var (k, v) in local.state_dict()) v.copy_(src[k]);
        }
        plain.eval();
        local.eval();
        using var noGrad = no_grad();
        using var small = rand(1, 3, 16, 16, generator: new Generator(4));
        using var a = plain.forward(small);
        using var b = local.forward(small);
        Assert.Equal(0, (a - b).abs().max().item<float>(), 6);
        // A horizontal ramp: 24×24 window means differ strongly from the global mean (i.i.d. noise would average out).
        using var large = linspace(0, 1, 48).view(1, 1, 1, 48).expand(1, 3, 48, 48).contiguous();
        using var c = plain.forward(large);
        using var d = local.forward(large);
        var diff = (c - d).abs().max().item<float>();
        Assert.True(diff > 1e-5, $"TLC made no difference on 48×48 ({diff})");
    }

    [Fact]
    public void Any_size_is_padded_inside_and_cropped_and_conditions_see_decoder_inputs()
    {
        using var model = NAFNet.Create(Tiny);
        model.eval();
        using var noGrad = no_grad();
        using var x = rand(2, 3, 30, 21, generator: new Generator(2));
        var recorder = new ConditionRecorder();
        using var y = model.ForwardConditioned(x, recorder);
        Assert.Equal(x.shape, y.shape);
        using var plain = model.forward(x);
        Assert.Equal(0, (y - plain).abs().max().item<float>());
        Assert.Equal(new[] { ("scale_1_8", 8, 64L), ("scale_1_4", 4, 32L), ("scale_1_2", 2, 16L), ("scale_1", 1, 8L) },
            model.ConditionPoints.Select(p => (p.Name, p.Downscale, p.Channels)).ToArray());
        // The padded size is 32×32 (next multiples of 16).
        foreach (var (point, shape) in recorder.Calls)
            Assert.Equal(new[] { 2, point.Channels, 32L / point.Downscale, 32L / point.Downscale }, shape);
    }

    [Fact]
    public void Validation_names_the_field()
    {
        Assert.Equal("dec_blk_nums", Assert.Throws<ModelConfigException>(() => NAFNet.Create(new NAFNetConfig { EncBlkNums = [1, 1], DecBlkNums = [1] })).Field);
        Assert.Equal("width", Assert.Throws<ModelConfigException>(() => new NAFNetConfig { Width = 0 }.Validate()).Field);
    }
}
