using DaRcot.Rec.Errors;
using DaRcot.Rec.Models;
using DaRcot.Rec.Potentials;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Potentials;

/// <summary>The pooled critic's width: official by default, smaller for small transport networks.</summary>
public sealed class PooledCriticWidthTests
{
    private static long Count(nn.Module module) => module.parameters().Sum(p => p.numel());

    [Fact]
    public void The_default_is_the_official_trunk_and_the_count_formula_matches_built_critics()
    {
        // Official F_net (30,588,609 at patch 128) minus its fc layers, plus the pooled head 512→64→1.
        Assert.Equal(13_711_041, PooledCritic.ParameterCount(64));
        using var official = new PooledCritic();
        Assert.Equal(64, official.Width);
        Assert.Equal(13_711_041, Count(official));
        foreach (var width in new[] { 8, 16 })
        {
            using var small = new PooledCritic(width);
            Assert.Equal(Count(small), PooledCritic.ParameterCount(width));
            using var x = rand(2, 3, 32, 32);
            using var phi = small.call(x);
            Assert.Equal(new long[] { 2 }, phi.shape);
        }
        Assert.Equal("potential.width", Assert.Throws<TrainingConfigException>(() => new PooledCritic(12)).Field);
    }

    [Fact]
    public void A_tiny_transport_network_gets_the_smallest_critic_and_a_large_one_the_official()
    {
        var (tiny, _) = ModelFactory.Create("nafnet", """{"width": 8, "middle_blk_num": 1, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1]}""");
        using (tiny) Assert.Equal(8, PooledCritic.WidthFor(Count(tiny)));
        Assert.Equal(64, PooledCritic.WidthFor(26_126_644));   // Restormer
        Assert.Equal(32, PooledCritic.WidthFor(PooledCritic.ParameterCount(32)));
        Assert.True(PooledCritic.ParameterCount(8) < 250_000);
    }
}
