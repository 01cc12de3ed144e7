using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Backbones.Blocks;

/// <summary>Restormer's transformer block: x + MDTA(LN(x)), then + GDFN(LN(x)). Keys <c>norm1, attn, norm2, ffn</c>.</summary>
public sealed class TransformerBlock : nn.Module<Tensor, Tensor>
{
    private readonly RestormerLayerNorm norm1;
    private readonly TransposedAttention attn;
    private readonly RestormerLayerNorm norm2;
    private readonly GatedDconvFeedForward ffn;

    /// <summary>Creates a block on <paramref name="dim"/> channels with <paramref name="heads"/> attention heads.</summary>
    public TransformerBlock(long dim, long heads, double ffnExpansionFactor, bool bias, LayerNormType layerNorm) : base("TransformerBlock")
    {
        norm1 = new RestormerLayerNorm(dim, layerNorm);
        attn = new TransposedAttention(dim, heads, bias);
        norm2 = new RestormerLayerNorm(dim, layerNorm);
        ffn = new GatedDconvFeedForward(dim, ffnExpansionFactor, bias);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = x.Plus(attn.forward(norm1.forward(x)));
        y = y.Plus(ffn.forward(norm2.forward(y)));
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>A <c>Sequential</c> of <paramref name="count"/> blocks named 0..count−1, as the official <c>nn.Sequential(*[...])</c>.</summary>
    public static nn.Module<Tensor, Tensor> Stack(int count, long dim, long heads, double ffnExpansionFactor, bool bias, LayerNormType layerNorm)
    {
        var blocks = new (string, nn.Module<Tensor, Tensor>)[count];
        for (var i = 0; i < count; i++)
            blocks[i] = (i.ToString(System.Globalization.CultureInfo.InvariantCulture), new TransformerBlock(dim, heads, ffnExpansionFactor, bias, layerNorm));
        return nn.Sequential(blocks);
    }
}
