using System.Text.Json;
using System.Text.Json.Nodes;
using DaRcot.Rec.Backbones;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using DaRcot.Rec.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Backbones;

public class MPRNetTests
{
    // The tiny parity configuration (shared/parity/mprnet_tiny/case.json): n 8, s 4, o 4, one CAB per ORB.
    internal static readonly MPRNetConfig Tiny = new() { NFeat = 8, ScaleUnetFeats = 4, ScaleOrsnetFeats = 4, NumCab = 1 };

    private static bool BitEqual(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static MPRNet TinyModel(bool conditionStage3 = false)
    {
        torch.manual_seed(7);
        var model = new MPRNet(Tiny, conditionStage3);
        model.eval();
        return model;
    }

    [SkippableFact]
    public void Official_configs_have_the_reference_parameter_counts()
    {
        var counts = JsonNode.Parse(File.ReadAllText(Fixtures.Path("parity", "reference_param_counts.json")))!;
        foreach (var (config, key) in new[]
                 {
                     (MPRNetConfig.Deblurring, "MPRNet_deblur_default_params"),
                     (MPRNetConfig.Denoising, "MPRNet_denoise_default_params"),
                     (MPRNetConfig.Deraining, "MPRNet_derain_default_params"),
                 })
        {
            using var model = new MPRNet(config);
            Assert.Equal(counts[key]!.GetValue<long>(), model.parameters().Sum(p => p.numel()));
        }
    }

    [SkippableFact]
    public void Presets_and_factory_build_the_official_MPRNets()
    {
        var counts = JsonNode.Parse(File.ReadAllText(Fixtures.Path("parity", "reference_param_counts.json")))!;
        foreach (var (name, config, file, key) in new[]
                 {
                     ("mprnet-deblurring", MPRNetConfig.Deblurring, "Deblurring/pretrained_models/model_deblurring.pth", "MPRNet_deblur_default_params"),
                     ("mprnet-denoising", MPRNetConfig.Denoising, "Denoising/pretrained_models/model_denoising.pth", "MPRNet_denoise_default_params"),
                     ("mprnet-deraining", MPRNetConfig.Deraining, "Deraining/pretrained_models/model_deraining.pth", "MPRNet_derain_default_params"),
                 })
        {
            var preset = Presets.Get(name);
            Assert.Equal(("mprnet", "state_dict", file, PadMode.Reflect), (preset.Arch, preset.ContainerKey, preset.FileName, preset.Padding));
            Assert.Equal(counts[key]!.GetValue<long>(), preset.ParamCount);
            var (model, info) = preset.Create();
            using (model)
            {
                var mpr = Assert.IsType<MPRNet>(model);
                Assert.Equal(config, mpr.Config);
                Assert.Equal(config, info.Config);
                Assert.Equal((8, PadMode.Reflect, "state_dict", 3L, 3L), (info.SizeMultiple, info.PadMode, info.ContainerKey, info.InputChannels, info.OutputChannels));
            }
        }

        var caseConfig = JsonNode.Parse(File.ReadAllText(Fixtures.Path("parity", "mprnet_tiny", "case.json")))!["config"]!.ToJsonString();
        var (tiny, tinyInfo) = ModelFactory.Create("MPRNet", caseConfig);
        using (tiny) Assert.Equal(Tiny, Assert.IsType<MPRNet>(tiny).Config);
        Assert.Equal("mprnet", tinyInfo.Arch);
        var ex = Assert.Throws<ModelConfigException>(() => ModelFactory.Create("mprnet", """{"n_feat": 8, "kernel_size": 2}"""));
        Assert.Equal("kernel_size", ex.Field);
    }

    [Fact]
    public void Deblurring_model_lists_316_keys_over_262_tensors_with_one_shared_PReLU()
    {
        using var model = new MPRNet(MPRNetConfig.Deblurring);
        var sd = model.state_dict();
        Assert.Equal(316, sd.Count);
        Assert.Equal(262, model.parameters().Count());
        // Spec §3.4: the one PReLU appears under 55 '…body.1.weight' keys, all the same tensor.
        var prelu = sd.Where(kv => kv.Key.EndsWith("body.1.weight", StringComparison.Ordinal) && kv.Value.shape.SequenceEqual(new long[] { 1 })).ToList();
        Assert.Equal(55, prelu.Count);
        Assert.Single(prelu.Select(kv => kv.Value.Handle).Distinct());
        Assert.Equal(0.25f, prelu[0].Value.item<float>());
        Assert.DoesNotContain(sd.Keys, k => k.EndsWith(".bias", StringComparison.Ordinal));

        // Example keys and shapes from backbones.md §3.4.
        var expected = new Dictionary<string, long[]>
        {
            ["shallow_feat1.0.weight"] = [96, 3, 3, 3],
            ["shallow_feat1.1.body.0.weight"] = [96, 96, 3, 3],
            ["shallow_feat1.1.body.1.weight"] = [1],
            ["shallow_feat1.1.CA.conv_du.0.weight"] = [24, 96, 1, 1],
            ["shallow_feat1.1.CA.conv_du.2.weight"] = [96, 24, 1, 1],
            ["stage1_encoder.down12.down.1.weight"] = [144, 96, 1, 1],
            ["stage1_encoder.down23.down.1.weight"] = [192, 144, 1, 1],
            ["stage2_encoder.csff_enc1.weight"] = [96, 96, 1, 1],
            ["stage2_encoder.csff_dec3.weight"] = [192, 192, 1, 1],
            ["stage2_encoder.encoder_level3.1.CA.conv_du.0.weight"] = [48, 192, 1, 1],
            ["stage1_decoder.up21.up.1.weight"] = [96, 144, 1, 1],
            ["stage2_decoder.up32.up.1.weight"] = [144, 192, 1, 1],
            ["stage2_decoder.skip_attn2.body.2.weight"] = [144, 144, 3, 3],
            ["stage3_orsnet.orb1.body.8.weight"] = [128, 128, 3, 3],
            ["stage3_orsnet.orb3.body.7.CA.conv_du.0.weight"] = [32, 128, 1, 1],
            ["stage3_orsnet.up_enc1.up.1.weight"] = [96, 144, 1, 1],
            ["stage3_orsnet.up_enc2.0.up.1.weight"] = [144, 192, 1, 1],
            ["stage3_orsnet.up_dec2.1.up.1.weight"] = [96, 144, 1, 1],
            ["stage3_orsnet.conv_dec3.weight"] = [128, 96, 1, 1],
            ["sam12.conv1.weight"] = [96, 96, 1, 1],
            ["sam23.conv2.weight"] = [3, 96, 1, 1],
            ["sam23.conv3.weight"] = [96, 3, 1, 1],
            ["concat12.weight"] = [96, 192, 3, 3],
            ["concat23.weight"] = [128, 192, 3, 3],
            ["tail.weight"] = [3, 128, 3, 3],
        };
        foreach (var (key, shape) in expected)
        {
            Assert.True(sd.ContainsKey(key), $"missing key {key}");
            Assert.Equal(shape, sd[key].shape);
        }
        Assert.DoesNotContain(sd.Keys, k => k.StartsWith("stage1_encoder.csff", StringComparison.Ordinal));
    }

    [Fact]
    public void Converting_the_dtype_keeps_the_PReLU_shared_under_every_key()
    {
        // Module.to() visits the shared PReLU once per parent; it must still be one tensor, converted once.
        using var model = TinyModel();
        using var _ = NewDisposeScope();
        var x = rand(1, 3, 16, 16);
        var y32 = model.forward(x);
        model.to(ScalarType.Float64);
        var sd = model.state_dict();
        Assert.Equal(211, sd.Count); // the tiny case's key count (case.json)
        Assert.All(sd.Values, t => Assert.Equal(ScalarType.Float64, t.dtype));
        var prelu = sd.Where(kv => kv.Value.shape.SequenceEqual(new long[] { 1 })).Select(kv => kv.Value.Handle).Distinct().ToList();
        Assert.Single(prelu);
        Assert.Equal(model.parameters().Count(), sd.Values.Select(t => t.Handle).Distinct().Count());
        var y64 = model.forward(x.to(ScalarType.Float64));
        Assert.True((y64.to(ScalarType.Float32) - y32).abs().max().item<float>() < 1e-5f);
    }

    [SkippableFact]
    public void Config_parses_the_parity_case_json()
    {
        var json = JsonNode.Parse(File.ReadAllText(Fixtures.Path("parity", "mprnet_tiny", "case.json")))!;
        var config = json["config"].Deserialize<MPRNetConfig>()!;
        Assert.Equal(Tiny, config);
        using var model = new MPRNet(config);
        Assert.Equal(json["param_count"]!.GetValue<long>(), model.parameters().Sum(p => p.numel()));
        Assert.Equal(json["state_dict_keys"]!.GetValue<int>(), model.state_dict().Count);
    }

    [Fact]
    public void Config_uses_official_json_names_and_presets()
    {
        var text = JsonSerializer.Serialize(MPRNetConfig.Deraining);
        foreach (var name in new[] { "\"in_c\":3", "\"out_c\":3", "\"n_feat\":40", "\"scale_unetfeats\":20", "\"scale_orsnetfeats\":16", "\"num_cab\":8", "\"kernel_size\":3", "\"reduction\":4", "\"bias\":false" })
            Assert.Contains(name, text);
        Assert.Equal(MPRNetConfig.Deraining, JsonSerializer.Deserialize<MPRNetConfig>(text));
        Assert.Equal((80, 48, 32), (MPRNetConfig.Denoising.NFeat, MPRNetConfig.Denoising.ScaleUnetFeats, MPRNetConfig.Denoising.ScaleOrsnetFeats));
        Assert.Equal((96, 48, 32), (MPRNetConfig.Deblurring.NFeat, MPRNetConfig.Deblurring.ScaleUnetFeats, MPRNetConfig.Deblurring.ScaleOrsnetFeats));
    }

    [Theory]
    [InlineData("kernel_size")]
    [InlineData("in_c")]
    [InlineData("num_cab")]
    [InlineData("reduction")]
    public void Invalid_config_names_the_field(string field)
    {
        var bad = field switch
        {
            "kernel_size" => Tiny with { KernelSize = 4 },
            "in_c" => Tiny with { InC = 1 },
            "num_cab" => Tiny with { NumCab = 0 },
            _ => Tiny with { Reduction = 9 },
        };
        var ex = Assert.Throws<ModelConfigException>(() => new MPRNet(bad));
        Assert.Equal(field, ex.Field);
        Assert.Contains(field, ex.Message);
    }

    [Fact]
    public void Config_is_inferred_from_a_state_dict_with_or_without_module_prefix()
    {
        using var model = new MPRNet(MPRNetConfig.Deraining);
        var sd = model.state_dict();
        Assert.Equal(MPRNetConfig.Deraining, MPRNetConfig.InferFromStateDict(sd));
        var prefixed = sd.ToDictionary(kv => "module." + kv.Key, kv => kv.Value);
        Assert.Equal(MPRNetConfig.Deraining, MPRNetConfig.InferFromStateDict(prefixed));

        using var tiny = TinyModel();
        Assert.Equal(Tiny, MPRNetConfig.InferFromStateDict(tiny.state_dict()));

        var ex = Assert.Throws<ModelConfigException>(() => MPRNetConfig.InferFromStateDict(new Dictionary<string, Tensor>()));
        Assert.Contains("shallow_feat1.0.weight", ex.Message);
    }

    [Fact]
    public void Forward_handles_non_square_sizes_and_returns_three_stages_final_first()
    {
        using var model = TinyModel();
        using var _ = NewDisposeScope();
        var x = rand(1, 3, 24, 40);
        var stages = model.ForwardStages(x);
        Assert.Equal(3, stages.Length);
        foreach (var s in stages) Assert.Equal(new long[] { 1, 3, 24, 40 }, s.shape);
        var y = model.forward(x);
        Assert.True(BitEqual(y, stages[0]), "forward must return the stage-3 image (index 0)");
        Assert.False(BitEqual(stages[0], stages[1]));

        var named = model.ForwardNamed(x);
        Assert.Equal(new[] { INamedOutputs.Final, MPRNet.OutputStage2, MPRNet.OutputStage1 }.OrderBy(k => k), named.Keys.OrderBy(k => k));
        Assert.True(BitEqual(named[MPRNet.OutputStage1], stages[2]));
    }

    [Fact]
    public void Samples_in_a_batch_do_not_mix()
    {
        // The quadrants and halves are batched along the batch axis; a wrong regrouping would mix samples.
        using var model = TinyModel();
        using var _ = NewDisposeScope();
        var a = rand(1, 3, 16, 24);
        var b = rand(1, 3, 16, 24);
        var both = model.ForwardStages(cat([a, b], 0));
        var alone = model.ForwardStages(b);
        for (var i = 0; i < 3; i++)
            Assert.True((both[i][1..2] - alone[i]).abs().max().item<float>() < 1e-5f, $"stage index {i} differs");
    }

    [Theory]
    [InlineData(20, 20)]
    [InlineData(24, 36)]
    public void Sizes_that_are_not_multiples_of_8_give_a_clear_error(int h, int w)
    {
        using var model = TinyModel();
        using var x = rand(1, 3, h, w);
        var ex = Assert.Throws<TensorArgumentException>(() => model.forward(x));
        Assert.Contains($"[1,3,{h},{w}]", ex.Message);
        Assert.Contains("multiples of 8", ex.Message);
        using var grey = rand(1, 1, 16, 16);
        Assert.Throws<TensorArgumentException>(() => model.forward(grey));
    }

    private sealed class RecordingInjector(Func<ConditionPoint, Tensor, Tensor> inject) : IConditionInjector
    {
        public List<(ConditionPoint Point, long[] Shape)> Calls { get; } = [];

        public Tensor Inject(ConditionPoint point, Tensor feature)
        {
            Calls.Add((point, feature.shape));
            return inject(point, feature);
        }
    }

    [Fact]
    public void Condition_points_are_stage2_decoder_levels_with_no_1_8_level()
    {
        using var model = TinyModel();
        Assert.Equal(new[] { (4, 16L), (2, 12L), (1, 8L) }, model.ConditionPoints.Select(p => (p.Downscale, p.Channels)));
        Assert.DoesNotContain(model.ConditionPoints, p => p.Downscale == 8);
        Assert.Equal(8, model.SizeMultiple);
        Assert.Equal(3, model.InputChannels);

        using var withZ = TinyModel(conditionStage3: true);
        Assert.Equal(4, withZ.ConditionPoints.Count);
        Assert.Equal((1, 12L), (withZ.ConditionPoints[3].Downscale, withZ.ConditionPoints[3].Channels));
        Assert.Equal(model.parameters().Sum(p => p.numel()), withZ.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Zero_condition_equals_the_plain_forward_bit_for_bit_and_a_nonzero_one_does_not()
    {
        using var model = TinyModel(conditionStage3: true);
        using var _ = NewDisposeScope();
        var x = rand(1, 3, 16, 32);
        var plain = model.forward(x);

        var zero = new RecordingInjector((_, f) => f + zeros_like(f));
        var conditioned = model.ForwardConditioned(x, zero);
        Assert.True(BitEqual(plain, conditioned));
        // Each point is called once, coarse to fine, on a full-image tensor of the declared size.
        Assert.Equal(model.ConditionPoints, zero.Calls.Select(c => c.Point));
        foreach (var (point, shape) in zero.Calls)
            Assert.Equal(new[] { 1, point.Channels, 16 / point.Downscale, 32 / point.Downscale }, shape);

        using (var features = model.Encode(x))
        {
            Assert.True(BitEqual(plain, model.Decode(features, zero)));
        }

        foreach (var point in model.ConditionPoints)
        {
            var one = new RecordingInjector((p, f) => p == point ? f + 0.1f : f);
            Assert.False(BitEqual(plain, model.ForwardConditioned(x, one)), $"{point.Name} had no effect");
        }
    }
}
