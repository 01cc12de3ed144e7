using DaRcot.Rec.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Backbones.Blocks;

/// <summary>
/// NAFNet's <c>LayerNorm2d</c>: a layer norm over channels at every pixel, population variance, eps 1e-6,
/// keys <c>weight</c> and <c>bias</c> [C]. (The official hand-written backward is the analytic gradient, so
/// autograd gives the same result.)
/// </summary>
public sealed class LayerNorm2d : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly double _eps;

    /// <summary>Creates the norm for <paramref name="channels"/> channels.</summary>
    public LayerNorm2d(long channels, double eps = 1e-6) : base(nameof(LayerNorm2d))
    {
        _eps = eps;
        weight = new Parameter(ones(channels));
        bias = new Parameter(zeros(channels));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        // A standard LayerNorm over channels at each pixel: libtorch's fused kernel on a channels-last view, handed
        // back as a (channels-last strided) NCHW view — several times faster than computing the moments by hand.
        using var scope = NewDisposeScope();
        var y = nn.functional.layer_norm(x.permute(0, 2, 3, 1), new[] { x.shape[1] }, weight, bias, _eps).permute(0, 3, 1, 2);
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>NAFNet's <c>SimpleGate</c>: splits the channels into halves a, b and returns a·b.</summary>
public sealed class SimpleGate : nn.Module<Tensor, Tensor>
{
    /// <summary>Creates the gate (no parameters).</summary>
    public SimpleGate() : base(nameof(SimpleGate)) { }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var halves = x.chunk(2, 1);
        return (halves[0] * halves[1]).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The test-time local converter (TLC) replacement of NAFNet's global average pool (official <c>AvgPool2d</c> of
/// <c>local_arch.py</c>, <c>fast_imp=False</c>): a k×k local mean instead of the global mean, so that statistics at
/// test time cover the same area as at training time. The kernel is fixed at construction; on features no larger
/// than the kernel it is the ordinary global mean. Has no parameters, so checkpoint keys do not change.
/// </summary>
public sealed class LocalAvgPool2d : nn.Module<Tensor, Tensor>
{
    /// <summary>The kernel height and width.</summary>
    public (long Height, long Width) Kernel { get; }

    /// <summary>Creates the pool with a <paramref name="kernelHeight"/>×<paramref name="kernelWidth"/> kernel.</summary>
    public LocalAvgPool2d(long kernelHeight, long kernelWidth) : base("AvgPool2d")
    {
        if (kernelHeight < 1 || kernelWidth < 1) throw new ArgumentOutOfRangeException(nameof(kernelHeight), "TLC kernels must be ≥ 1.");
        Kernel = (kernelHeight, kernelWidth);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        long h = x.shape[2], w = x.shape[3];
        if (Kernel.Height >= h && Kernel.Width >= w) return nn.functional.adaptive_avg_pool2d(x, [1L, 1L]);

        using var scope = NewDisposeScope();
        long kh = Math.Min(Kernel.Height, h), kw = Math.Min(Kernel.Width, w);
        // Mean of every kh×kw window (stride 1, no padding) from an integral image, as the official code does:
        // avg_pool2d would cost kh·kw per output, which is prohibitive for the 384-pixel kernels on real frames.
        // The integral image is accumulated in float64 so that sums over large frames keep float32 precision.
        var integral = nn.functional.pad(x.to(float64).cumsum(-1).cumsum(-2), [1L, 0L, 1L, 0L]);
        long ih = integral.shape[2], iw = integral.shape[3];
        var bottomRight = integral[.., .., TensorIndex.Slice(kh, ih), TensorIndex.Slice(kw, iw)];
        var topLeft = integral[.., .., TensorIndex.Slice(0, ih - kh), TensorIndex.Slice(0, iw - kw)];
        var topRight = integral[.., .., TensorIndex.Slice(0, ih - kh), TensorIndex.Slice(kw, iw)];
        var bottomLeft = integral[.., .., TensorIndex.Slice(kh, ih), TensorIndex.Slice(0, iw - kw)];
        var local = (bottomRight.Plus(topLeft) - topRight - bottomLeft).DividedBy(kh * kw).to(x.dtype);
        long dh = h - local.shape[2], dw = w - local.shape[3];
        // Back to h×w by replicating the border: left/top get the floor of half the gap, right/bottom the ceiling.
        var padded = nn.functional.pad(local, [dw / 2, (dw + 1) / 2, dh / 2, (dh + 1) / 2], PaddingModes.Replicate);
        return padded.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// NAFNet's <c>NAFBlock</c> (DW_Expand 2, FFN_Expand 2, no dropout). Keys: <c>conv1..conv5</c>, <c>sca.1</c>,
/// <c>norm1</c>, <c>norm2</c>, <c>beta</c>, <c>gamma</c>. β and γ start at zero, so a fresh block is the identity.
/// </summary>
public sealed class NafBlock : nn.Module<Tensor, Tensor>
{
    // Field order follows the official registration order (conv1, conv2, conv3, sca, sg, conv4, conv5, norm1, norm2,
    // dropouts, beta, gamma); TorchSharp orders parameters after modules the same way.
    private readonly VerifiedConv2d conv1;
    private readonly VerifiedConv2d conv2;
    private readonly VerifiedConv2d conv3;
    private readonly nn.Module<Tensor, Tensor> sca;
    private readonly SimpleGate sg;
    private readonly VerifiedConv2d conv4;
    private readonly VerifiedConv2d conv5;
    private readonly LayerNorm2d norm1;
    private readonly LayerNorm2d norm2;
    private readonly Parameter beta;
    private readonly Parameter gamma;

    /// <summary>Creates a block on <paramref name="c"/> channels. <paramref name="pool"/> replaces the global
    /// average pool of the channel attention (<c>sca.0</c>); null = the official global pool.</summary>
    public NafBlock(long c, nn.Module<Tensor, Tensor>? pool = null) : base("NAFBlock")
    {
        var dw = c * 2;
        conv1 = VerifiedConv2d.Create(c, dw, 1, bias: true);
        conv2 = VerifiedConv2d.Create(dw, dw, 3, padding: 1, groups: dw, bias: true);
        conv3 = VerifiedConv2d.Create(dw / 2, c, 1, bias: true);
        sca = nn.Sequential(("0", pool ?? nn.AdaptiveAvgPool2d(1)), ("1", VerifiedConv2d.Create(dw / 2, dw / 2, 1, bias: true)));
        sg = new SimpleGate();
        var ffn = c * 2;
        conv4 = VerifiedConv2d.Create(c, ffn, 1, bias: true);
        conv5 = VerifiedConv2d.Create(ffn / 2, c, 1, bias: true);
        norm1 = new LayerNorm2d(c);
        norm2 = new LayerNorm2d(c);
        beta = new Parameter(zeros(1, c, 1, 1));
        gamma = new Parameter(zeros(1, c, 1, 1));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor inp)
    {
        using var scope = NewDisposeScope();
        var x = norm1.forward(inp);
        x = sg.forward(conv2.forward(conv1.forward(x)));
        // Simplified channel attention: no activation, no sigmoid (official).
        x = x * sca.forward(x);
        x = conv3.forward(x);
        var y = inp.Plus(x * beta);
        x = conv5.forward(sg.forward(conv4.forward(norm2.forward(y))));
        return y.Plus(x * gamma).MoveToOuterDisposeScope();
    }
}
