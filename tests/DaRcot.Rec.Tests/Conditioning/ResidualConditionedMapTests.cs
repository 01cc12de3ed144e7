using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Conditioning;

public class ResidualConditionedMapTests
{
    private static readonly RegmOptions TinyRegm = new() { Width = 4, Blocks = [1, 1, 1, 1], Heads = [1, 1, 2, 2] };

    private static Tensor Image(long h, long w, int seed = 0)
    {
        var g = new Generator((ulong)(1234 + seed));
        return rand(new long[] { 2, 3, h, w }, generator: g);
    }

    private static double MaxAbs(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    [Theory]
    [InlineData(InjectorKind.ZeroInitProjection)]
    [InlineData(InjectorKind.Film)]
    public void ZeroInitialisedInjectorStartsExactlyAtTheBackboneOutput(InjectorKind kind)
    {
        manual_seed(1);
        var backbone = new StandInBackbone();
        var map = new ResidualConditionedMap(backbone, new RecOptions { Injector = kind, Regm = TinyRegm });
        var x = Image(16, 24);
        using var _ = no_grad();
        var plain = backbone.forward(x);
        var rec = map.forward(x);
        Assert.Equal(plain.shape, rec.shape);
        Assert.Equal(0.0, MaxAbs(plain, rec));
    }

    [Fact]
    public void FusionInjectorChangesTheOutputAndUsesTheResidual()
    {
        manual_seed(2);
        var backbone = new StandInBackbone();
        var map = new ResidualConditionedMap(backbone, new RecOptions { Injector = InjectorKind.ScaledAdditionFusion, Regm = TinyRegm });
        var x = Image(16, 16);
        using var _ = no_grad();
        using var o = map.ForwardRec(x, keepIntermediates: true);
        // Pass 1 is the plain backbone, and r = x − y₀.
        Assert.Equal(0.0, MaxAbs(o.FirstPass!, backbone.forward(x)));
        Assert.Equal(0.0, MaxAbs(o.Residual!, x - o.FirstPass!));
        Assert.True(MaxAbs(o.Output, o.FirstPass!) > 1e-4, "the conditioned pass must differ from pass 1 with a fusion block");
    }

    [Fact]
    public void ZeroInitGradientsFlowToProjectionsFirstAndToRegmAfterOneStep()
    {
        manual_seed(3);
        var backbone = new StandInBackbone();
        var map = new ResidualConditionedMap(backbone, new RecOptions { Regm = TinyRegm });
        var x = Image(16, 16);
        var target = Image(16, 16, seed: 7);

        Dictionary<string, Tensor> Grads()
        {
            map.zero_grad();
            var loss = (map.forward(x) - target).abs().mean();
            loss.backward();
            return map.named_parameters().Where(p => p.parameter.grad is not null)
                .ToDictionary(p => p.name, p => p.parameter.grad!.abs().sum());
        }
        static double Sum(Dictionary<string, Tensor> g, string prefix) =>
            g.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).Sum(kv => (double)kv.Value.item<float>());

        var g0 = Grads();
        // Step 0: the projections' weights get gradients (feature gradient ⊗ embedding); the REGM gets exactly zero,
        // because every path from it to the output is multiplied by a zero projection weight.
        Assert.True(Sum(g0, "cond.proj.") > 0);
        Assert.Equal(0.0, Sum(g0, "regm."));
        Assert.True(Sum(g0, "backbone.") > 0);

        // One plain SGD step (lr 0.1) computed as TorchSharp's SGD does (p += -lr·grad), with its Scalar kept alive
        // (TorchSharp's own step passes Scalar temporaries that a collection on another thread can free mid-call).
        using (no_grad())
        using (var minusLr = (-0.1).ToScalar())
        {
            foreach (var p in map.parameters())
                if (p.grad is { } grad) p.add_(grad, minusLr);
        }
        var g1 = Grads();
        Assert.True(Sum(g1, "regm.") > 0, "after one update of the projections the REGM receives gradients");
        // Every REGM parameter is on the path (patch embed, encoders, decoders).
        Assert.True(Sum(g1, "regm.patch_embed.") > 0);
    }

    [Fact]
    public void FusionInjectorGradientsReachRegmImmediately()
    {
        manual_seed(4);
        var map = new ResidualConditionedMap(new StandInBackbone(), new RecOptions { Injector = InjectorKind.ScaledAdditionFusion, Regm = TinyRegm });
        var x = Image(8, 8);
        map.forward(x).Square().mean().backward();
        var regm = map.named_parameters().Where(p => p.name.StartsWith("regm.", StringComparison.Ordinal)).ToArray();
        Assert.NotEmpty(regm);
        Assert.True(regm.Sum(p => p.parameter.grad is null ? 0.0 : p.parameter.grad.abs().sum().item<float>()) > 0);
    }

    [Theory]
    [InlineData(InjectorKind.ZeroInitProjection, PadMode.Replicate)]
    [InlineData(InjectorKind.ScaledAdditionFusion, PadMode.Reflect)]
    [InlineData(InjectorKind.Film, PadMode.Zero)]
    public void SizesThatAreNotMultiplesOfEightComeBackAtTheirSize(InjectorKind kind, PadMode pad)
    {
        manual_seed(5);
        var map = new ResidualConditionedMap(new StandInBackbone(), new RecOptions { Injector = kind, PadMode = pad, Regm = TinyRegm });
        Assert.Equal(8, map.SizeMultiple); // lcm(stand-in 4, dense 8)
        var x = Image(37, 29);
        using var _ = no_grad();
        using var o = map.ForwardRec(x, keepIntermediates: true);
        Assert.Equal(new long[] { 2, 3, 37, 29 }, o.Output.shape);
        Assert.Equal(new long[] { 2, 3, 37, 29 }, o.FirstPass!.shape);
        Assert.Equal(new long[] { 2, 3, 37, 29 }, o.Residual!.shape);
        // Embeddings live at the padded size 40×32: width·2^k channels at 1/2^k.
        Assert.Equal(new long[] { 2, 32, 5, 4 }, o.DenseEmbedding!.shape);
        Assert.Equal(new long[] { 2, 16, 10, 8 }, o.Embeddings!["d4"].shape);
        Assert.Equal(new long[] { 2, 8, 20, 16 }, o.Embeddings["d2"].shape);
        Assert.Equal(new long[] { 2, 4, 40, 32 }, o.Embeddings["d1"].shape);
    }

    [Fact]
    public void SharedEncoderRunsOnceAndGivesTheSameValuesAsTwoFullPasses()
    {
        manual_seed(6);
        var shared = new StandInBackbone();
        var mapShared = new ResidualConditionedMap(shared, new RecOptions { Injector = InjectorKind.ScaledAdditionFusion, Regm = TinyRegm });
        var separate = new StandInBackbone();
        var mapSeparate = new ResidualConditionedMap(separate, new RecOptions { Injector = InjectorKind.ScaledAdditionFusion, ShareEncoder = false, Regm = TinyRegm });
        mapSeparate.load_state_dict(mapShared.state_dict());
        var x = Image(16, 16);
        using var _ = no_grad();
        var a = mapShared.forward(x);
        var b = mapSeparate.forward(x);
        Assert.Equal(1, shared.EncodeCalls);
        Assert.Equal(2, separate.EncodeCalls);
        Assert.True(MaxAbs(a, b) <= 1e-6, $"max diff {MaxAbs(a, b)}");
    }

    [Fact]
    public void DetachFirstPassCutsTheResidualFromTheGraph()
    {
        manual_seed(7);
        var x = Image(8, 8);
        var official = new ResidualConditionedMap(new StandInBackbone(), new RecOptions { Regm = TinyRegm });
        var detached = new ResidualConditionedMap(new StandInBackbone(), new RecOptions { Regm = TinyRegm, DetachFirstPass = true });
        using var o1 = official.ForwardRec(x, keepIntermediates: true);
        using var o2 = detached.ForwardRec(x, keepIntermediates: true);
        Assert.True(o1.Residual!.requires_grad);
        Assert.False(o2.Residual!.requires_grad);
        Assert.True(o2.Output.requires_grad);
    }

    [Fact]
    public void MissingScaleIsSkippedAndTheDenseEmbeddingStaysAtOneEighth()
    {
        manual_seed(8);
        // The stand-in, like MPRNet, has no 1/8 point and two full-resolution points.
        var map = new ResidualConditionedMap(new StandInBackbone(twoFullResPoints: true),
            new RecOptions { Downscales = [8, 4, 1], Regm = TinyRegm });
        Assert.Equal(new[] { 8 }, map.SkippedDownscales);
        Assert.Equal(new[] { "d4", "d1", "d1_tail" }, map.ConditionedPoints.Select(p => p.Name));
        var x = Image(16, 16);
        using var _ = no_grad();
        using var o = map.ForwardRec(x, keepIntermediates: true);
        Assert.Equal(new long[] { 2, 32, 2, 2 }, o.DenseEmbedding!.shape);
        Assert.Equal(new[] { "d1", "d1_tail", "d4" }, o.Embeddings!.Keys.Order(StringComparer.Ordinal));
        // Two points at the same downscale share one embedding tensor.
        Assert.Equal(0.0, MaxAbs(o.Embeddings["d1"], o.Embeddings["d1_tail"]));
        // A conditioned point gets a projection; the unconditioned 1/2 point does not.
        var keys = map.state_dict().Keys.ToArray();
        Assert.Contains("cond.proj.d1_tail.weight", keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("cond.proj.d2.", StringComparison.Ordinal));
    }

    [Fact]
    public void BackboneKeysKeepTheirNamesUnderTheBackbonePrefix()
    {
        var backbone = new StandInBackbone();
        var plainKeys = backbone.state_dict().Keys.ToArray();
        var map = new ResidualConditionedMap(backbone, new RecOptions { Regm = TinyRegm });
        var keys = map.state_dict().Keys.ToArray();
        Assert.Equal(plainKeys.Select(k => "backbone." + k), keys.Where(k => k.StartsWith("backbone.", StringComparison.Ordinal)));
        Assert.All(keys, k => Assert.True(k.StartsWith("backbone.", StringComparison.Ordinal) || k.StartsWith("regm.", StringComparison.Ordinal) || k.StartsWith("cond.", StringComparison.Ordinal), k));
        // An official backbone state_dict loads strictly into the subtree.
        var fresh = new StandInBackbone();
        var sd = fresh.state_dict().ToDictionary(kv => "backbone." + kv.Key, kv => kv.Value);
        foreach (var kv in map.state_dict().Where(kv => !kv.Key.StartsWith("backbone.", StringComparison.Ordinal))) sd[kv.Key] = kv.Value;
        var (missing, unexpected) = map.load_state_dict(sd, strict: true);
        Assert.Empty(missing);
        Assert.Empty(unexpected);
        using var _ = no_grad();
        var x = Image(8, 8);
        Assert.Equal(0.0, MaxAbs(map.forward(x), fresh.forward(x)));
    }

    [Fact]
    public void BadInputsGiveTypedErrors()
    {
        Assert.Throws<ModelConfigException>(() => new ResidualConditionedMap(new NoHooksNet()));
        var e = Assert.Throws<ModelConfigException>(() => new ResidualConditionedMap(new StandInBackbone(), new RecOptions { Downscales = [3] }));
        Assert.Contains("3", e.Message);
        Assert.Throws<ModelConfigException>(() => new ResidualConditionedMap(new StandInBackbone(), new RecOptions { Downscales = [8] }));
        Assert.Throws<ModelConfigException>(() => new ResidualConditionedMap(new StandInBackbone(), new RecOptions { Regm = TinyRegm with { Heads = [1, 1, 3, 2] } }));
        var map = new ResidualConditionedMap(new StandInBackbone(), new RecOptions { Regm = TinyRegm });
        Assert.Throws<TensorArgumentException>(() => map.forward(zeros(1, 1, 8, 8)));
        Assert.Throws<TensorArgumentException>(() => map.forward(zeros(3, 8, 8)));
    }
}
