using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Errors;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Conditioning;

public class ResidualEmbeddingGeneratorTests
{
    private static readonly RegmOptions Tiny = new() { Width = 4, Blocks = [1, 0, 1, 1], Heads = [1, 2, 2, 4] };

    [Fact]
    public void OneEmbeddingPerPointAtItsDownscaleWithTheRegmWidthThere()
    {
        manual_seed(11);
        ConditionPoint[] points = [new("a8", 8, 999), new("a4", 4, 5), new("a2", 2, 7), new("a1", 1, 3)];
        var regm = new ResidualEmbeddingGenerator(3, points, Tiny);
        using var _ = no_grad();
        var emb = regm.forward(randn(1, 3, 24, 16));
        Assert.Equal(new long[] { 1, 32, 3, 2 }, emb["a8"].shape);
        Assert.Equal(new long[] { 1, 16, 6, 4 }, emb["a4"].shape);
        Assert.Equal(new long[] { 1, 8, 12, 8 }, emb["a2"].shape);
        Assert.Equal(new long[] { 1, 4, 24, 16 }, emb["a1"].shape);
        Assert.Same(emb["a8"], emb[ResidualEmbeddingGenerator.DenseKey]);
        Assert.Equal(32, regm.EmbeddingChannels(8));
        Assert.Equal(4, regm.EmbeddingChannels(1));
    }

    [Fact]
    public void DecoderStopsAtTheFinestRequestedLevel()
    {
        var regm = new ResidualEmbeddingGenerator(3, [new ConditionPoint("p", 4, 10)], Tiny);
        var names = regm.named_children().Select(c => c.name).ToArray();
        Assert.Equal(new[] { "patch_embed", "encoders", "downs", "ups", "reduces", "decoders" }, names);
        var keys = regm.state_dict().Keys.ToArray();
        // Encoder levels 1..1/8 (four stacks), decoder only 1/8 → 1/4 (one up, one reduce, one stack).
        Assert.Contains(keys, k => k.StartsWith("encoders.3.", StringComparison.Ordinal));
        Assert.Contains("ups.0.body.0.weight", keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("ups.1.", StringComparison.Ordinal));
        Assert.Equal(8, regm.DenseDownscale);
        using var _ = no_grad();
        Assert.Equal(new long[] { 2, 16, 2, 2 }, regm.forward(randn(2, 3, 8, 8))["p"].shape);
    }

    [Fact]
    public void UnsupportedDownscaleIsRefused()
    {
        var e = Assert.Throws<ModelConfigException>(() => new ResidualEmbeddingGenerator(3, [new ConditionPoint("x", 16, 8)], Tiny));
        Assert.Contains("16", e.Message);
        Assert.Throws<ModelConfigException>(() => new ResidualEmbeddingGenerator(3, [new ConditionPoint("x", 2, 8)], Tiny with { Blocks = [1, 1] }));
    }
}
