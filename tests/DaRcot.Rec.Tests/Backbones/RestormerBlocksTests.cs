using DaRcot.Rec.Backbones.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Backbones;

public class RestormerBlocksTests
{
    [Fact]
    public void TransformerBlock_has_official_keys_and_keeps_shape()
    {
        using var block = new TransformerBlock(48, 1, 2.66, bias: false, LayerNormType.WithBias);
        var keys = block.state_dict().Keys.ToArray();
        Assert.Equal(new[]
        {
            "norm1.body.weight", "norm1.body.bias", "attn.temperature", "attn.qkv.weight", "attn.qkv_dwconv.weight",
            "attn.project_out.weight", "norm2.body.weight", "norm2.body.bias", "ffn.project_in.weight",
            "ffn.dwconv.weight", "ffn.project_out.weight",
        }, keys);
        Assert.Equal(31_279, block.parameters().Sum(p => p.numel()));
        using var x = randn(2, 48, 8, 8);
        using var y = block.forward(x);
        Assert.Equal(x.shape, y.shape);
    }

    [Fact]
    public void BiasFree_norm_does_not_subtract_the_mean()
    {
        using var norm = new RestormerLayerNorm(2, LayerNormType.BiasFree);
        // Two channels with values 1 and 3: mean 2, population variance 1, so BiasFree gives v/1 = (1, 3).
        using var x = tensor(new float[] { 1, 3 }).reshape(1, 2, 1, 1);
        using var y = norm.forward(x);
        Assert.Equal(1f, y[0, 0, 0, 0].item<float>(), 3);
        Assert.Equal(3f, y[0, 1, 0, 0].item<float>(), 3);
        Assert.Single(norm.state_dict().Keys);
    }

    [Fact]
    public void Ffn_hidden_width_truncates_like_python_int()
    {
        Assert.Equal(127, GatedDconvFeedForward.HiddenWidth(48, 2.66));
        Assert.Equal(1021, GatedDconvFeedForward.HiddenWidth(384, 2.66));
    }
}
