using System.Text.Json;
using DaRcot.Rec.Backbones;
using DaRcot.Rec.Backbones.Blocks;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Models;
using DaRcot.Rec.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Backbones;

public class RestormerTests
{
    private static RestormerConfig Tiny(string ln = "WithBias", bool dual = false) => new()
    {
        Dim = 8, NumBlocks = [1, 1, 1, 1], NumRefinementBlocks = 1, LayerNormTypeName = ln,
        DualPixelTask = dual, InpChannels = dual ? 6 : 3,
    };

    private static long Params(nn.Module m) => m.parameters().Sum(p => p.numel());

    [SkippableFact]
    public void Default_config_has_the_official_parameter_and_key_counts()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("parity", "reference_param_counts.json")));
        var expected = doc.RootElement.GetProperty("Restormer_default_params").GetInt64();
        using var model = Restormer.Create();
        Assert.Equal(expected, Params(model));
        Assert.Equal(494, model.state_dict().Count);
    }

    [Fact]
    public void BiasFree_and_dual_pixel_defaults_have_the_documented_counts()
    {
        // backbones.md §1.3/§1.4: BiasFree 26,111,668 params / 406 keys; dual-pixel 26,132,548 / 495.
        using (var biasFree = Restormer.Create(new RestormerConfig { LayerNormTypeName = "BiasFree" }))
        {
            Assert.Equal(26_111_668, Params(biasFree));
            Assert.Equal(406, biasFree.state_dict().Count);
        }
        using var dual = Restormer.Create(new RestormerConfig { InpChannels = 6, DualPixelTask = true });
        Assert.Equal(26_132_548, Params(dual));
        Assert.Equal(495, dual.state_dict().Count);
        Assert.Equal(new long[] { 96, 48, 1, 1 }, dual.state_dict()["skip_conv.weight"].shape);
    }

    [Fact]
    public void Keys_and_shapes_follow_the_official_tree()
    {
        using var model = Restormer.Create(Tiny());
        var sd = model.state_dict();
        // Shapes worked out by hand from backbones.md §1.4 for dim 8: widths 8/16/32/64, FFN hidden 21/42/85/170.
        var expected = new Dictionary<string, long[]>
        {
            ["patch_embed.proj.weight"] = [8, 3, 3, 3],
            ["encoder_level1.0.norm1.body.weight"] = [8],
            ["encoder_level1.0.norm1.body.bias"] = [8],
            ["encoder_level1.0.attn.temperature"] = [1, 1, 1],
            ["encoder_level1.0.attn.qkv.weight"] = [24, 8, 1, 1],
            ["encoder_level1.0.attn.qkv_dwconv.weight"] = [24, 1, 3, 3],
            ["encoder_level1.0.ffn.project_in.weight"] = [42, 8, 1, 1],
            ["encoder_level1.0.ffn.project_out.weight"] = [8, 21, 1, 1],
            ["down1_2.body.0.weight"] = [4, 8, 3, 3],
            ["down3_4.body.0.weight"] = [16, 32, 3, 3],
            ["latent.0.attn.temperature"] = [8, 1, 1],
            ["latent.0.ffn.project_in.weight"] = [340, 64, 1, 1],
            ["up4_3.body.0.weight"] = [128, 64, 3, 3],
            ["reduce_chan_level3.weight"] = [32, 64, 1, 1],
            ["reduce_chan_level2.weight"] = [16, 32, 1, 1],
            ["up2_1.body.0.weight"] = [32, 16, 3, 3],
            ["decoder_level1.0.attn.qkv.weight"] = [48, 16, 1, 1],
            ["decoder_level1.0.attn.temperature"] = [1, 1, 1],
            ["refinement.0.ffn.project_out.weight"] = [16, 42, 1, 1],
            ["output.weight"] = [3, 16, 3, 3],
        };
        foreach (var (key, shape) in expected)
        {
            Assert.True(sd.ContainsKey(key), $"missing {key}");
            Assert.Equal(shape, sd[key].shape);
        }
        Assert.DoesNotContain(sd.Keys, k => k.StartsWith("skip_conv", StringComparison.Ordinal) || k.EndsWith(".bias", StringComparison.Ordinal) && !k.Contains("norm"));
        // 8 blocks × 11 keys + 10 others (backbones.md §1.4 pattern).
        Assert.Equal(8 * 11 + 10, sd.Count);
    }

    [Fact]
    public void Condition_points_see_the_documented_decoder_tensors_and_null_injection_is_the_plain_forward()
    {
        using var model = Restormer.Create(Tiny());
        model.eval();
        using var noGrad = no_grad();
        using var x = rand(1, 3, 16, 24, generator: new Generator(1));
        using var plain = model.forward(x);

        var recorder = new ConditionRecorder();
        using var identity = model.ForwardConditioned(x, recorder);
        Assert.Equal(0, (identity - plain).abs().max().item<float>());

        // 1/8: latent output (8·dim); 1/4, 1/2: after the reduction convs (4·dim, 2·dim); 1: decoder_level1 input (2·dim).
        Assert.Equal(new[] { ("scale_1_8", 8, 64L), ("scale_1_4", 4, 32L), ("scale_1_2", 2, 16L), ("scale_1", 1, 16L) },
            model.ConditionPoints.Select(p => (p.Name, p.Downscale, p.Channels)).ToArray());
        Assert.Equal(4, recorder.Calls.Count);
        foreach (var (point, shape) in recorder.Calls)
            Assert.Equal(new[] { 1, point.Channels, 16L / point.Downscale, 24L / point.Downscale }, shape);

        using var shifted = model.ForwardConditioned(x, new ConditionRecorder(0.5));
        Assert.True((shifted - plain).abs().max().item<float>() > 1e-4, "a non-zero condition must change the output");
    }

    [Fact]
    public void Dual_pixel_has_no_image_residual_and_maps_six_channels_to_three()
    {
        using var model = Restormer.Create(Tiny(dual: true));
        Assert.Equal(6, model.InputChannels);
        using var noGrad = no_grad();
        using var y = model.forward(zeros(1, 6, 8, 8));
        Assert.Equal(new long[] { 1, 3, 8, 8 }, y.shape);
    }

    [Fact]
    public void Input_sizes_that_are_not_multiples_of_8_are_refused()
    {
        using var model = Restormer.Create(Tiny());
        var e = Assert.Throws<TensorArgumentException>(() => model.forward(zeros(1, 3, 12, 16)));
        Assert.Contains("multiples of 8", e.Message);
    }

    [Fact]
    public void Config_reads_official_json_and_validation_names_the_field()
    {
        var c = ModelFactory.ParseConfig<RestormerConfig>("""{"dim": 8, "num_blocks": [1, 2, 1, 1], "num_refinement_blocks": 2, "heads": [1, 2, 4, 8], "ffn_expansion_factor": 2.66, "bias": false, "LayerNorm_type": "BiasFree"}""");
        Assert.Equal(8, c.Dim);
        Assert.Equal(new[] { 1, 2, 1, 1 }, c.NumBlocks);
        Assert.Equal(2, c.NumRefinementBlocks);
        Assert.Equal(LayerNormType.BiasFree, c.LayerNorm);
        Assert.Equal(3, c.InpChannels); // official default
        // Like the official code, any LayerNorm_type other than "BiasFree" means WithBias.
        Assert.Equal(LayerNormType.WithBias, new RestormerConfig { LayerNormTypeName = "biasfree" }.LayerNorm);

        Assert.Equal("heads", Assert.Throws<ModelConfigException>(() => new RestormerConfig { Dim = 8, Heads = [1, 2, 4, 3] }.Validate()).Field);
        Assert.Equal("num_blocks", Assert.Throws<ModelConfigException>(() => new RestormerConfig { NumBlocks = [1, 1, 1] }.Validate()).Field);
        Assert.Equal("dim", Assert.Throws<ModelConfigException>(() => new RestormerConfig { Dim = 7 }.Validate()).Field);
        Assert.Equal("num_block", Assert.Throws<ModelConfigException>(() => ModelFactory.ParseConfig<RestormerConfig>("""{"num_block": [1,1,1,1]}""")).Field);
        Assert.Equal("dim", Assert.Throws<ModelConfigException>(() => ModelFactory.ParseConfig<RestormerConfig>("""{"dim": "wide"}""")).Field);
    }
}
