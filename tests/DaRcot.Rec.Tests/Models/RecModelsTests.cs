using System.Text.Json;
using DaRcot.Rec.Backbones;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Models;
using DaRcot.Rec.Tests.Infrastructure;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Models;

/// <summary>Restormer+REC, NAFNet+REC and MPRNet+REC built from the generic map and the backbones' hooks.</summary>
public class RecModelsTests(ITestOutputHelper log)
{
    private static readonly RegmOptions TinyRegm = new() { Width = 4, Blocks = [1, 1, 1, 1] };

    private static ResidualConditionedMap Tiny(string arch, InjectorKind kind = InjectorKind.ZeroInitProjection, PadMode pad = PadMode.Replicate, IReadOnlyList<int>? downscales = null)
    {
        var options = new RecOptions { Injector = kind, Regm = TinyRegm, PadMode = pad, Downscales = downscales };
        return arch switch
        {
            "restormer" => RecModels.RestormerRec(new RestormerConfig { Dim = 8, NumBlocks = [1, 1, 1, 1], NumRefinementBlocks = 1 }, options),
            "nafnet" => RecModels.NAFNetRec(new NAFNetConfig { Width = 8, MiddleBlkNum = 1, EncBlkNums = [1, 1, 1, 1], DecBlkNums = [1, 1, 1, 1] }, options),
            "mprnet" => RecModels.MPRNetRec(new MPRNetConfig { NFeat = 8, ScaleUnetFeats = 4, ScaleOrsnetFeats = 4, NumCab = 1 }, options),
            _ => throw new ArgumentException(arch),
        };
    }

    private static double MaxAbs(Tensor a, Tensor b)
    {
        Assert.Equal(b.shape, a.shape);
        return (a - b).abs().max().item<float>();
    }

    [SkippableTheory]
    [InlineData("restormer_tiny_withbias", "output")]
    [InlineData("nafnet_tiny", "output")]
    [InlineData("mprnet_tiny", "output_stage3")]
    public void ZeroInitRecAroundOfficialWeightsReproducesTheOfficialBackbone(string fixture, string outputKey)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("parity", fixture, "case.json")));
        var root = doc.RootElement;
        var json = root.GetProperty("config").GetRawText();
        var options = new RecOptions { Regm = TinyRegm };
        ResidualConditionedMap map = root.GetProperty("arch").GetString() switch
        {
            "Restormer" => RecModels.RestormerRec(ModelFactory.ParseConfig<RestormerConfig>(json), options),
            "NAFNet" => RecModels.NAFNetRec(ModelFactory.ParseConfig<NAFNetConfig>(json), options),
            "MPRNet" => RecModels.MPRNetRec(ModelFactory.ParseConfig<MPRNetConfig>(json), options),
            var a => throw new InvalidOperationException(a),
        };
        using var _m = map;
        // The official state_dict loads strictly into the backbone subtree.
        var report = StateDictLoader.LoadFile(map.Backbone, Fixtures.Path("parity", fixture, "weights.pth"), root.GetProperty("container_key").GetString());
        Assert.True(report.IsExact);
        var t = SafetensorsFile.Read(Fixtures.Path("parity", fixture, "tensors.safetensors"));
        using var _ = no_grad();
        using var rec = map.ForwardRec(t["input"], keepIntermediates: true);
        var err = MaxAbs(rec.Output, t[outputKey]);
        var tol = root.GetProperty("abs_tol").GetDouble();
        log.WriteLine($"{fixture}: zero-init REC vs official backbone output max|Δ| = {err:E3} (abs_tol {tol}); REC vs its own pass 1: {MaxAbs(rec.Output, rec.FirstPass!):E3}");
        Assert.True(err <= tol, $"{err} > {tol}");
        Assert.Equal(0.0, MaxAbs(rec.Output, rec.FirstPass!));
        Assert.Equal(0.0, MaxAbs(rec.Output, map.Backbone.forward(t["input"])));
    }

    [Theory]
    [InlineData("restormer")]
    [InlineData("nafnet")]
    [InlineData("mprnet")]
    public void ZeroInitRecStartsAtTheBackboneAndLearnsThroughTheRegm(string arch)
    {
        manual_seed(31);
        using var map = Tiny(arch);
        var x = rand(1, 3, 16, 16);
        var target = rand(1, 3, 16, 16);
        using (no_grad())
            Assert.Equal(0.0, MaxAbs(map.forward(x), map.Backbone.forward(x)));

        Dictionary<string, double> Grads()
        {
            map.zero_grad();
            (map.forward(x) - target).abs().mean().backward();
            return map.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad is null ? 0.0 : (double)p.parameter.grad.abs().sum().item<float>());
        }
        static double Sum(Dictionary<string, double> g, string prefix) => g.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).Sum(kv => kv.Value);

        var g0 = Grads();
        Assert.True(Sum(g0, "cond.proj.") > 0, "projection weights receive gradients at step 0");
        Assert.Equal(0.0, Sum(g0, "regm.")); // zero projections block the path to the REGM at step 0
        using var opt = optim.SGD(map.parameters(), 0.05);
        opt.step();
        var g1 = Grads();
        Assert.True(Sum(g1, "regm.") > 0, "REGM receives gradients after one step");
        Assert.True(Sum(g1, "regm.patch_embed.") > 0);
        // Every conditioned point's projection learns.
        foreach (var p in map.ConditionedPoints) Assert.True(Sum(g1, $"cond.proj.{p.Name}.") > 0, p.Name);
    }

    [Theory]
    [InlineData("restormer", InjectorKind.ZeroInitProjection, PadMode.Reflect)]
    [InlineData("nafnet", InjectorKind.ScaledAdditionFusion, PadMode.Zero)]
    [InlineData("mprnet", InjectorKind.Film, PadMode.Replicate)]
    [InlineData("mprnet", InjectorKind.ScaledAdditionFusion, PadMode.Reflect)]
    public void SizesThatAreNotMultiplesOfEightComeBackAtTheirSize(string arch, InjectorKind kind, PadMode pad)
    {
        manual_seed(32);
        using var map = Tiny(arch, kind, pad);
        var x = rand(1, 3, 37, 29);
        using var _ = no_grad();
        using var o = map.ForwardRec(x, keepIntermediates: true);
        Assert.Equal(x.shape, o.Output.shape);
        Assert.Equal(x.shape, o.FirstPass!.shape);
        Assert.Equal(8, o.DenseEmbedding!.shape[1] / TinyRegm.Width); // 1/8 level: width·8 channels
        Assert.Equal((37 + map.SizeMultiple - 1) / map.SizeMultiple * map.SizeMultiple / 8, o.DenseEmbedding.shape[2]);
    }

    [Fact]
    public void NAFNetRecWithZeroPaddingEqualsPlainNAFNetOnAnySize()
    {
        // NAFNet zero-pads internally, so the zero-padding wrapper reproduces it exactly on unaligned sizes.
        manual_seed(33);
        using var map = Tiny("nafnet", pad: PadMode.Zero);
        Assert.Equal(16, map.SizeMultiple);
        var x = rand(1, 3, 37, 29);
        using var _ = no_grad();
        Assert.Equal(0.0, MaxAbs(map.forward(x), map.Backbone.forward(x)));
    }

    [Fact]
    public void MPRNetHasNoEighthLevelSoItIsSkippedButTheDenseEmbeddingIsStillOneEighth()
    {
        manual_seed(34);
        using var all = Tiny("mprnet");
        Assert.Empty(all.SkippedDownscales);
        Assert.Equal(new[] { 4, 2, 1 }, all.ConditionedPoints.Select(p => p.Downscale));

        using var asked = Tiny("mprnet", downscales: [8, 4, 2, 1]);
        Assert.Equal(new[] { 8 }, asked.SkippedDownscales);
        Assert.Equal(new[] { MPRNet.Scale1_4, MPRNet.Scale1_2, MPRNet.Scale1 }, asked.ConditionedPoints.Select(p => p.Name));
        using var _ = no_grad();
        using var o = asked.ForwardRec(rand(1, 3, 16, 16), keepIntermediates: true);
        Assert.Equal(new long[] { 1, 32, 2, 2 }, o.DenseEmbedding!.shape);
        Assert.Equal(new[] { MPRNet.Scale1, MPRNet.Scale1_2, MPRNet.Scale1_4 }, o.Embeddings!.Keys.Order(StringComparer.Ordinal));

        using var stage3 = RecModels.MPRNetRec(new MPRNetConfig { NFeat = 8, ScaleUnetFeats = 4, ScaleOrsnetFeats = 4, NumCab = 1 }, new RecOptions { Regm = TinyRegm }, conditionStage3: true);
        Assert.Contains(stage3.ConditionedPoints, p => p.Name == MPRNet.Scale1Stage3);
    }

    [Fact]
    public void RestormerConditionsAllFourScales()
    {
        using var map = Tiny("restormer");
        Assert.Equal(new[] { 8, 4, 2, 1 }, map.ConditionedPoints.Select(p => p.Downscale));
        Assert.Empty(map.SkippedDownscales);
    }

    [Fact]
    public void FactoryAcceptsTheBackboneConfigAloneOrWithRecOptions()
    {
        var (flat, flatInfo) = ModelFactory.Create("restormer-rec", """{"dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1}""");
        using (flat)
        {
            var map = Assert.IsType<ResidualConditionedMap>(flat);
            Assert.IsType<Restormer>(map.Backbone);
            Assert.IsType<ZeroInitProjectionInjector>(map.Conditioner);
            Assert.Equal(48, map.Regm.Options.Width);
            Assert.Equal(PadMode.Reflect, flatInfo.PadMode);
            Assert.Null(flatInfo.ContainerKey);
        }

        const string wrapped = """
            {"backbone": {"img_channel": 3, "width": 8, "middle_blk_num": 1, "enc_blk_nums": [1, 1, 1], "dec_blk_nums": [1, 1, 1]},
             "rec": {"injector": "ScaledAdditionFusion", "pad_mode": "Replicate", "downscales": [4, 2], "regm_width": 4,
                     "regm_blocks": [1, 1, 1, 1], "regm_heads": [1, 1, 2, 2], "dense_downscale": 8}}
            """;
        var (built, info) = ModelFactory.Create("nafnet-rec", wrapped);
        using var rec = Assert.IsType<ResidualConditionedMap>(built);
        Assert.IsType<ScaledAdditionFusionInjector>(rec.Conditioner);
        Assert.Equal(new[] { 4, 2 }, rec.ConditionedPoints.Select(p => p.Downscale));
        Assert.Equal(PadMode.Replicate, info.PadMode);
        Assert.Equal(8, info.SizeMultiple);
        // The JSON describes the same network as the code: a state_dict built in code loads strictly.
        using var same = RecModels.NAFNetRec(new NAFNetConfig { Width = 8, MiddleBlkNum = 1, EncBlkNums = [1, 1, 1], DecBlkNums = [1, 1, 1] },
            new RecOptions { Injector = InjectorKind.ScaledAdditionFusion, Downscales = [4, 2], Regm = new RegmOptions { Width = 4, Blocks = [1, 1, 1, 1], Heads = [1, 1, 2, 2] } });
        Assert.True(StateDictLoader.LoadInto(rec, same.state_dict()).IsExact);

        var (mpr, _) = ModelFactory.Create("mprnet-rec", """{"backbone": {"n_feat": 8, "scale_unetfeats": 4, "scale_orsnetfeats": 4, "num_cab": 1}, "rec": {"condition_stage3": true, "regm_width": 4}}""");
        using (mpr) Assert.Contains(((ResidualConditionedMap)mpr).ConditionedPoints, p => p.Name == MPRNet.Scale1Stage3);
    }

    [Theory]
    [InlineData("""{"backbone": {"dim": 8}, "recc": {}}""")]
    [InlineData("""{"backbone": {"dimm": 8}}""")]
    [InlineData("""{"rec": {"regm_widht": 8}}""")]
    [InlineData("""{"rec": {"injector": "CrossAttention"}}""")]
    [InlineData("""{"rec": {"downscales": [3]}}""")]
    [InlineData("""[1, 2]""")]
    public void FactoryRefusesBadRecConfigs(string json) =>
        Assert.Throws<DaRcot.Rec.Errors.ModelConfigException>(() => ModelFactory.Create("restormer-rec", json).Model.Dispose());
}
