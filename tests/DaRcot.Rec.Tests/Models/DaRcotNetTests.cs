using System.Text.Json;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Models;
using DaRcot.Rec.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Models;

public class DaRcotNetTests
{
    // A fast configuration for behaviour tests (the structure is the official one at width 8).
    private static readonly DaRcotConfig Tiny = new() { Dim = 8, NumBlocks = [1, 1, 1, 1], NumRefinementBlocks = 1, Heads = [1, 2, 2, 4] };

    // The official registration order of MRCNet's children, as it appears in the official state_dict of
    // ../shared/parity/darcot_mrcnet_small/weights.pth (read from the pickle, not from our code).
    private static readonly string[] OfficialChildOrder =
    [
        "patch_embed", "res_patch_embed", "chnl_reduce1", "chnl_reduce2", "chnl_reduce3", "reduce_noise_channel_1",
        "encoder_level1", "resencoder_level1", "down1_2", "resdown1_2", "reduce_noise_channel_2", "encoder_level2",
        "resencoder_level2", "down2_3", "resdown2_3", "reduce_noise_channel_3", "encoder_level3", "resencoder_level3",
        "down3_4", "resdown3_4", "latent", "reslatent", "up4_3", "resup4_3", "reduce_chan_level3", "resreduce_chan_level3",
        "noise_level3", "resnoise_level3", "reduce_noise_level3", "resreduce_noise_level3", "decoder_level3",
        "resdecoder_level3", "up3_2", "reduce_chan_level2", "resup3_2", "resreduce_chan_level2", "noise_level2",
        "reduce_noise_level2", "decoder_level2", "resdecoder_level2", "up2_1", "resup2_1", "noise_level1",
        "reduce_noise_level1", "decoder_level1", "resdecoder_level1", "refinement", "output",
    ];

    [SkippableFact]
    public void DefaultConfigHasTheOfficialParameterCountTensorsAndKeyShapes()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("parity", "reference_param_counts.json")));
        var expected = doc.RootElement.GetProperty("MRCNet_default_params").GetInt64();
        // Built through the preset (and so through ModelFactory's "darcot" arch with the default config).
        var preset = Presets.Get("darcot-all-in-one");
        var (built, info) = preset.Create();
        using var model = Assert.IsType<DaRcotNet>(built);
        Assert.Equal("Tnet", info.ContainerKey);
        Assert.Equal(new[] { 4, 6, 6, 8 }, model.Config.NumBlocks);
        var sd = model.state_dict();
        Assert.Equal(expected, model.parameters().Sum(p => p.numel()));
        Assert.Equal(expected, preset.ParamCount);
        Assert.Equal(52_336_698, expected);
        Assert.Equal(997, sd.Count); // darcot.md §1.5: 997 tensors, no buffers
        Assert.Empty(model.buffers());
        // darcot.md §7.
        (string key, long[] shape)[] spot =
        [
            ("patch_embed.proj.weight", [48, 3, 3, 3]),
            ("down1_2.body.0.weight", [24, 48, 3, 3]),
            ("down3_4.body.0.weight", [96, 192, 3, 3]),
            ("up4_3.body.0.weight", [384, 192, 3, 3]),
            ("up2_1.body.0.weight", [192, 96, 3, 3]),
            ("reduce_chan_level3.weight", [192, 288, 1, 1]),
            ("reduce_noise_level3.weight", [192, 384, 1, 1]),
            ("noise_level3.attn.qkv.weight", [1152, 384, 1, 1]),
            ("noise_level1.ffn.project_in.weight", [510, 96, 1, 1]),
            ("noise_level1.attn.temperature", [4, 1, 1]),
            ("latent.7.ffn.project_out.weight", [384, 1021, 1, 1]),
            ("chnl_reduce3.weight", [256, 320, 1, 1]),
            ("reduce_noise_channel_1.weight", [48, 112, 1, 1]),
            ("reduce_noise_channel_3.weight", [192, 448, 1, 1]),
            ("resdecoder_level1.3.norm2.body.bias", [96]),
            ("refinement.3.attn.temperature", [1, 1, 1]),
            ("output.weight", [3, 96, 3, 3]),
        ];
        foreach (var (key, shape) in spot)
        {
            Assert.True(sd.ContainsKey(key), key);
            Assert.Equal(shape, sd[key].shape);
        }
        // Only LayerNorm biases (darcot.md §7).
        Assert.All(sd.Keys.Where(k => k.EndsWith(".bias", StringComparison.Ordinal)), k => Assert.Contains(".body.bias", k));
        Assert.Equal(125_116, sd.Where(kv => kv.Key.StartsWith("encoder_level1.", StringComparison.Ordinal)).Sum(kv => kv.Value.numel()));
        Assert.Equal(14_370_448, sd.Where(kv => kv.Key.StartsWith("latent.", StringComparison.Ordinal)).Sum(kv => kv.Value.numel()));
    }

    [SkippableFact]
    public void FixtureConfigParsesAndBuildsTheFixtureSizedNetworkInOfficialOrder()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("parity", "darcot_mrcnet_small", "case.json")));
        var config = DaRcotConfig.FromJson(doc.RootElement.GetProperty("config").GetRawText());
        Assert.Equal(new[] { 1, 1, 1, 1 }, config.NumBlocks);
        Assert.Equal(1, config.NumRefinementBlocks);
        using var model = new DaRcotNet(config);
        Assert.Equal(doc.RootElement.GetProperty("param_count").GetInt64(), model.parameters().Sum(p => p.numel()));
        Assert.Equal(doc.RootElement.GetProperty("state_dict_keys").GetInt32(), model.state_dict().Count);
        Assert.Equal(OfficialChildOrder, model.named_children().Select(c => c.name));
    }

    [Fact]
    public void ConfigRefusesDecoderFalseUnknownFieldsAndBadHeads()
    {
        var e = Assert.Throws<ModelConfigException>(() => DaRcotConfig.FromJson("""{"decoder": false}"""));
        Assert.Equal("decoder", e.Field);
        Assert.Contains("crashes", e.Message);
        Assert.Throws<ModelConfigException>(() => DaRcotConfig.FromJson("""{"dimm": 48}"""));
        Assert.Throws<ModelConfigException>(() => DaRcotConfig.FromJson("""{"num_blocks": [1, 1, 1]}"""));
        Assert.Throws<ModelConfigException>(() => DaRcotConfig.FromJson("""{"dim": 8, "heads": [1, 2, 3, 8]}"""));
        Assert.Throws<ModelConfigException>(() => DaRcotConfig.FromJson("""{"LayerNorm_type": "Batch"}"""));
        Assert.Throws<ModelConfigException>(() => DaRcotConfig.FromJson("not json"));
        // Official names, comments and task_num (ignored) are accepted; omitted fields take the defaults.
        var c = DaRcotConfig.FromJson("""{"dim": 16, "LayerNorm_type": "BiasFree", "task_num": 3 /* unused */}""");
        Assert.Equal(16, c.Dim);
        Assert.True(c.Decoder);
        Assert.Equal(new long[] { 1, 2, 4, 8 }, c.Heads);
    }

    [Fact]
    public void EncoderAndLatentRunOnceWhileTheDecoderRunsTwice()
    {
        manual_seed(21);
        using var model = new DaRcotNet(Tiny);
        var calls = new Dictionary<string, int>();
        var children = model.named_children().ToDictionary(c => c.name, c => c.module);
        foreach (var name in new[] { "patch_embed", "encoder_level1", "encoder_level2", "encoder_level3", "down3_4", "latent", "reslatent", "noise_level3", "decoder_level2", "output" })
        {
            calls[name] = 0;
            var n = name;
            ((nn.Module<Tensor, Tensor>)children[name]).register_forward_hook((_, _, o) => { calls[n]++; return o; });
        }
        using var _ = no_grad();
        model.forward(rand(1, 3, 16, 16));
        Assert.Equal(1, calls["encoder_level1"]);
        Assert.Equal(1, calls["encoder_level2"]);
        Assert.Equal(1, calls["encoder_level3"]);
        Assert.Equal(1, calls["latent"]);        // the official forward runs it twice
        Assert.Equal(1, calls["reslatent"]);
        Assert.Equal(2, calls["patch_embed"]);   // x and the residual share it
        Assert.Equal(2, calls["down3_4"]);       // generator and REGM share it
        Assert.Equal(2, calls["noise_level3"]);  // both decoder passes
        Assert.Equal(3, calls["decoder_level2"]); // both passes, plus REGM's R1
        Assert.Equal(2, calls["output"]);
    }

    [Fact]
    public void IntermediatesHaveTheOfficialShapesAndAnySizeWorks()
    {
        manual_seed(22);
        using var model = new DaRcotNet(Tiny);
        var x = rand(2, 3, 37, 29);
        using var _ = no_grad();
        using var o = model.ForwardRec(x, keepIntermediates: true);
        Assert.Equal(x.shape, o.Output.shape);
        Assert.Equal(x.shape, o.FirstPass!.shape);
        Assert.Equal(0.0, (o.Residual! - (x - o.FirstPass)).abs().max().item<float>());
        // Embeddings at the padded 40×32: R3 8·dim at 1/8, R2 4·dim at 1/4, R1 2·dim at 1/2.
        Assert.Equal(new long[] { 2, 64, 5, 4 }, o.DenseEmbedding!.shape);
        Assert.Same(o.DenseEmbedding, o.Embeddings![DaRcotNet.R3]);
        Assert.Equal(new long[] { 2, 32, 10, 8 }, o.Embeddings[DaRcotNet.R2].shape);
        Assert.Equal(new long[] { 2, 16, 20, 16 }, o.Embeddings[DaRcotNet.R1].shape);
        Assert.True((o.Output - o.FirstPass).abs().max().item<float>() > 1e-5, "pass 2 is conditioned");
        var named = model.ForwardNamed(x);
        Assert.Equal(new[] { "output", "residual_embedding" }, named.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(0.0, (named["output"] - o.Output).abs().max().item<float>());
        Assert.Equal(0.0, (model.forward(x) - o.Output).abs().max().item<float>());
    }

    [Fact]
    public void NothingIsDetachedAndDeadModulesGetNoGradient()
    {
        manual_seed(23);
        using var model = new DaRcotNet(Tiny);
        model.forward(rand(1, 3, 16, 16)).square().mean().backward();
        var grads = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad is null ? 0.0 : p.parameter.grad.abs().sum().item<float>());
        double Sum(string prefix) => grads.Where(kv => kv.Key.StartsWith(prefix + ".", StringComparison.Ordinal)).Sum(kv => kv.Value);
        foreach (var used in new[] { "patch_embed", "encoder_level1", "latent", "reslatent", "resencoder_level1", "resdecoder_level3", "noise_level1", "decoder_level2", "output" })
            Assert.True(Sum(used) > 0, used);
        foreach (var dead in new[] { "res_patch_embed", "chnl_reduce1", "reduce_noise_channel_2", "resdown3_4", "resup3_2", "resreduce_chan_level2", "resdecoder_level2", "resup2_1", "resdecoder_level1" })
            Assert.Equal(0.0, Sum(dead));
    }

    [Fact]
    public void WrongInputsGiveTypedErrors()
    {
        using var model = new DaRcotNet(Tiny);
        Assert.Throws<TensorArgumentException>(() => model.forward(rand(1, 4, 8, 8)));
        Assert.Throws<TensorArgumentException>(() => model.forward(rand(3, 8, 8)));
        Assert.Throws<TensorArgumentException>(() => model.forward(ones(new long[] { 1, 3, 8, 8 }, ScalarType.Int32)));
    }
}
