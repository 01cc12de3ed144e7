using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Inference;

/// <summary><see cref="RestorerOptions.ChannelsLast"/> (default) changes the memory layout the network computes in,
/// not the result.</summary>
public sealed class ChannelsLastTests
{
    [Fact]
    public void To_channels_last_keeps_values_and_indexing_and_changes_the_memory_order()
    {
        using var x = arange(2 * 3 * 4 * 5, dtype: float32).reshape(2, 3, 4, 5);
        using var cl = MemoryLayout.ToChannelsLast(x);
        Assert.Equal(x.shape, cl.shape);
        Assert.True(cl.allclose(x, rtol: 0, atol: 0));
        // NHWC memory: the channel stride is 1, the width stride C, the height stride W·C.
        Assert.Equal(new long[] { 60, 1, 15, 3 }, cl.stride());
        using var single = zeros(1, 1, 4, 4);
        Assert.Same(single, MemoryLayout.ToChannelsLast(single));
    }

    [Theory]
    [InlineData("restormer", """{"dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1}""")]
    [InlineData("nafnet", """{"width": 8, "middle_blk_num": 1, "enc_blk_nums": [1, 1, 1], "dec_blk_nums": [1, 1, 1]}""")]
    [InlineData("mprnet", """{"n_feat": 8, "scale_unetfeats": 4, "scale_orsnetfeats": 4, "num_cab": 1}""")]
    [InlineData("darcot", """{"dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1}""")]
    public void Restoring_in_channels_last_gives_the_nchw_result(string arch, string config)
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        var (model, info) = ModelFactory.Create(arch, config);
        using var nchw = new Restorer(model, info, new RestorerOptions { ChannelsLast = false, MemoryBudgetBytes = 1L << 30 }, ownsModel: false);
        using var channelsLast = new Restorer(model, info, new RestorerOptions { MemoryBudgetBytes = 1L << 30 }, ownsModel: true);
        Assert.True(channelsLast.Options.ChannelsLast);
        var x = rand(1, 3, 36, 44);
        var a = nchw.Restore(x);
        var b = channelsLast.Restore(x);
        Assert.True(b.is_contiguous());
        // float32 rounding only: the kernels add the same products in another order.
        Assert.InRange((a - b).abs().max().item<float>(), 0, 1e-5);
    }
}
