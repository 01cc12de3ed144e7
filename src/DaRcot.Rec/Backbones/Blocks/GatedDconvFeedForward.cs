using DaRcot.Rec.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Backbones.Blocks;

/// <summary>
/// Restormer's gated-Dconv feed-forward network (GDFN, official <c>FeedForward</c>): GELU(z1)·z2 after a
/// pointwise expansion and a depthwise 3×3 conv.
/// </summary>
public sealed class GatedDconvFeedForward : nn.Module<Tensor, Tensor>
{
    private readonly VerifiedConv2d project_in;
    private readonly VerifiedConv2d dwconv;
    private readonly VerifiedConv2d project_out;

    /// <summary>Hidden width: floor(dim·factor) in double arithmetic, as the official <c>int(dim*ffn_expansion_factor)</c>.</summary>
    public static long HiddenWidth(long dim, double factor) => (long)Math.Floor(dim * factor);

    /// <summary>Creates the GDFN on <paramref name="dim"/> channels.</summary>
    public GatedDconvFeedForward(long dim, double expansionFactor, bool bias) : base("FeedForward")
    {
        var hidden = HiddenWidth(dim, expansionFactor);
        project_in = VerifiedConv2d.Create(dim, hidden * 2, 1, bias: bias);
        dwconv = VerifiedConv2d.Create(hidden * 2, hidden * 2, 3, padding: 1, groups: hidden * 2, bias: bias);
        project_out = VerifiedConv2d.Create(hidden, dim, 1, bias: bias);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var halves = dwconv.forward(project_in.forward(x)).chunk(2, 1);
        var gated = nn.functional.gelu(halves[0]) * halves[1];
        return project_out.forward(gated).MoveToOuterDisposeScope();
    }
}
