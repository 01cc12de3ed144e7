using DaRcot.Rec.Backbones;
using DaRcot.Rec.Backbones.Blocks;
using DaRcot.Rec.Profiling;
using DaRcot.Rec.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Profiling;

/// <summary>
/// <see cref="FlopCounter"/> against multiply-adds computed by hand from the layer geometry (the arithmetic is written
/// out in each test). Convention under test: FLOPs = 2 × multiply-adds, bias adds not counted.
/// </summary>
public class FlopCounterTests
{
    [Fact]
    public void Three_by_three_conv_with_padding()
    {
        using var conv = VerifiedConv2d.Create(3, 8, 3, padding: 1);
        var count = FlopCounter.Count(conv, 1, 3, 16, 16);
        // N·Cout·Hout·Wout·(Cin/groups)·kh·kw = 1·8·16·16·3·3·3 = 55296 MACs; FLOPs = 2·55296 = 110592.
        Assert.Equal(55296, count.ConvMultiplyAdds);
        Assert.Equal(110592, count.Flops);
        Assert.Equal(0, count.LinearMultiplyAdds);
        Assert.Equal(0, count.MatmulMultiplyAdds);
        // weight 8·3·3·3 = 216 + bias 8 = 224.
        Assert.Equal(224, count.Parameters);
        Assert.Equal(new long[] { 1, 3, 16, 16 }, count.InputShape);
    }

    [Fact]
    public void Strided_conv_counts_the_smaller_output()
    {
        using var conv = VerifiedConv2d.Create(4, 6, 3, stride: 2, padding: 1);
        var count = FlopCounter.Count(conv, 2, 4, 16, 16);
        // Hout = Wout = (16 + 2·1 − 3)/2 + 1 = 8; MACs = 2·6·8·8·4·3·3 = 27648.
        Assert.Equal(27648, count.MultiplyAdds);
        Assert.Equal(55296, count.Flops);
    }

    [Fact]
    public void Depthwise_and_grouped_convs_divide_the_input_channels()
    {
        using var depthwise = VerifiedConv2d.Create(8, 8, 3, padding: 1, groups: 8, bias: false);
        // Cin/groups = 1: MACs = 1·8·10·10·1·3·3 = 7200.
        Assert.Equal(7200, FlopCounter.Count(depthwise, 1, 8, 10, 10).ConvMultiplyAdds);
        using var grouped = VerifiedConv2d.Create(8, 4, 1, groups: 2, bias: false);
        // Cin/groups = 4: MACs = 1·4·5·5·4·1·1 = 400.
        Assert.Equal(400, FlopCounter.Count(grouped, 1, 8, 5, 5).ConvMultiplyAdds);
    }

    [Fact]
    public void Stock_conv_and_transposed_conv_are_counted_through_hooks()
    {
        using var conv = nn.Conv2d(3, 8, 3, padding: 1);
        // Same geometry as the VerifiedConv2d case: 1·8·16·16·3·3·3 = 55296.
        Assert.Equal(55296, FlopCounter.Count(conv, 1, 3, 16, 16).ConvMultiplyAdds);
        using var up = nn.ConvTranspose2d(4, 2, 2, stride: 2);
        // Every input element scatters into Cout/groups·kh·kw outputs: N·Cin·Hin·Win·(Cout/groups)·kh·kw
        // = 1·4·5·5·2·2·2 = 800 (the output is 1·2·10·10).
        Assert.Equal(800, FlopCounter.Count(up, 1, 4, 5, 5).ConvMultiplyAdds);
    }

    [Fact]
    public void Linear_layer()
    {
        using var linear = nn.Linear(20, 5);
        var count = FlopCounter.Count(linear, 3, 20);
        // rows·out·in = 3·5·20 = 300 MACs.
        Assert.Equal(300, count.LinearMultiplyAdds);
        Assert.Equal(600, count.Flops);
        // 20·5 weights + 5 biases.
        Assert.Equal(105, count.Parameters);
    }

    [Fact]
    public void Sequential_sums_its_layers_by_type()
    {
        using var model = nn.Sequential(
            ("conv", VerifiedConv2d.Create(3, 4, 3, padding: 1)),
            ("relu", nn.ReLU()),
            ("down", nn.Conv2d(4, 2, 1, stride: 2)),
            ("flat", nn.Flatten()),
            ("fc", nn.Linear(32, 10)));
        var count = FlopCounter.Count(model, 1, 3, 8, 8);
        // conv: 1·4·8·8·3·3·3 = 6912; down: 1·2·4·4·4·1·1 = 128; fc on 2·4·4 = 32 features: 10·32 = 320.
        Assert.Equal(6912 + 128, count.ConvMultiplyAdds);
        Assert.Equal(320, count.LinearMultiplyAdds);
        Assert.Equal(2 * (6912 + 128 + 320), count.Flops);
        // (4·3·9 + 4) + (2·4 + 2) + (32·10 + 10) = 112 + 10 + 330 = 452.
        Assert.Equal(452, count.Parameters);
        Assert.Equal(model.parameters().Sum(p => p.numel()), count.Parameters);
    }

    [Fact]
    public void Transposed_attention_counts_its_convs_and_both_matmuls()
    {
        using var attention = new TransposedAttention(4, 2, bias: false);
        var count = FlopCounter.Count(attention, 1, 4, 6, 6);
        // qkv 1×1 4→12: 12·36·4 = 1728; depthwise 3×3 on 12: 12·36·9 = 3888; project_out 1×1 4→4: 4·36·4 = 576.
        Assert.Equal(1728 + 3888 + 576, count.ConvMultiplyAdds);
        // Two heads of 2 channels over 36 pixels: q·kᵀ is [1,2,2,2] with inner 36 → 8·36 = 288;
        // attn·v is [1,2,2,36] with inner 2 → 144·2 = 288.
        Assert.Equal(288 + 288, count.MatmulMultiplyAdds);
    }

    [Fact]
    public void Whole_network_scales_with_pixels_and_batch_and_is_repeatable()
    {
        using var model = Restormer.Create(new RestormerConfig { Dim = 8, NumBlocks = [1, 1, 1, 1], NumRefinementBlocks = 1 });
        var small = FlopCounter.Count(model, 1, 3, 8, 8);
        // Every counted term is linear in the pixels (Restormer's attention is C×C per head), so 4× the pixels or
        // 2× the batch scale every term exactly.
        var large = FlopCounter.Count(model, 1, 3, 16, 16);
        var batch = FlopCounter.Count(model, 2, 3, 8, 8);
        Assert.Equal(4 * small.ConvMultiplyAdds, large.ConvMultiplyAdds);
        Assert.Equal(4 * small.MatmulMultiplyAdds, large.MatmulMultiplyAdds);
        Assert.Equal(2 * small.MultiplyAdds, batch.MultiplyAdds);
        Assert.True(small.MatmulMultiplyAdds > 0);
        Assert.Equal(small, FlopCounter.Count(model, 1, 3, 8, 8) with { InputShape = small.InputShape });
    }

    [Fact]
    public void Default_restormer_has_the_official_parameter_count()
    {
        using var model = Restormer.Create();
        // The official Restormer() (dim 48, blocks [4,6,6,8], 4 refinement blocks): 26,126,644 parameters.
        Assert.Equal(26_126_644, FlopCounter.CountParameters(model));
    }

    [Fact]
    public void Training_flags_are_restored_and_hooks_removed()
    {
        using var fc = nn.Linear(4, 2);
        using var model = nn.Sequential(("fc", fc), ("drop", nn.Dropout(0.5)));
        model.train();
        model.modules().OfType<TorchSharp.Modules.Dropout>().Single().eval();
        FlopCounter.Count(model, 1, 4);
        Assert.True(model.training);
        Assert.True(fc.training);
        Assert.False(model.modules().OfType<TorchSharp.Modules.Dropout>().Single().training);
        // A second count sees the same work: the first count's hooks are gone (not firing twice).
        Assert.Equal(8, FlopCounter.Count(model, 1, 4).LinearMultiplyAdds);
    }
}
