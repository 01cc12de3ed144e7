using DaRcot.Rec.Profiling;
using DaRcot.Rec.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Backbones.Blocks;

/// <summary>
/// Restormer's multi-Dconv head transposed attention (MDTA, official <c>Attention</c>): attention between
/// channels (C/h × C/h per head) instead of pixels, so its cost is linear in the image size.
/// </summary>
public sealed class TransposedAttention : nn.Module<Tensor, Tensor>
{
    private readonly long _heads;
    private readonly Parameter temperature;
    private readonly VerifiedConv2d qkv;
    private readonly VerifiedConv2d qkv_dwconv;
    private readonly VerifiedConv2d project_out;

    /// <summary>Creates MDTA on <paramref name="dim"/> channels split into <paramref name="heads"/> consecutive groups.</summary>
    public TransposedAttention(long dim, long heads, bool bias) : base("Attention")
    {
        _heads = heads;
        // One learnable scale per head, shape (h,1,1) as in the official checkpoints.
        temperature = new Parameter(ones(heads, 1, 1));
        qkv = VerifiedConv2d.Create(dim, dim * 3, 1, bias: bias);
        qkv_dwconv = VerifiedConv2d.Create(dim * 3, dim * 3, 3, padding: 1, groups: dim * 3, bias: bias);
        project_out = VerifiedConv2d.Create(dim, dim, 1, bias: bias);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var parts = qkv_dwconv.forward(qkv.forward(x)).chunk(3, 1);
        Tensor Heads(Tensor t) => t.reshape(b, _heads, c / _heads, h * w);
        var q = nn.functional.normalize(Heads(parts[0]), p: 2, dim: -1, eps: 1e-12);
        var k = nn.functional.normalize(Heads(parts[1]), p: 2, dim: -1, eps: 1e-12);
        var v = Heads(parts[2]);
        // The two matmuls report their multiply-adds to a running FlopCounter (numel of the product × inner dim).
        var scores = q.matmul(k.transpose(-2, -1));
        OpTally.MatMul(scores, h * w);
        // Under bfloat16 mixed precision the scores are bfloat16; × the float32 temperature promotes them, so the
        // softmax runs in float32, and its result goes back to v's type for the second matmul.
        var attn = (scores * temperature).softmax(-1);
        if (attn.dtype != v.dtype) attn = attn.to(v.dtype);
        var mixed = attn.matmul(v);
        OpTally.MatMul(mixed, c / _heads);
        var result = project_out.forward(mixed.reshape(b, c, h, w));
        return result.MoveToOuterDisposeScope();
    }
}
