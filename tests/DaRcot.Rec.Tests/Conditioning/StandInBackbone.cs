using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Conditioning;

/// <summary>
/// A tiny three-level conv U-Net with a global residual, implementing the split hooks, to test the generic REC map
/// without depending on a real backbone. Condition points (decoder side): 1/4 (16 ch), 1/2 (8 ch), 1 (4 ch), and
/// optionally a second full-resolution point right before the tail (like MPRNet's two scale-1 points).
/// Counts how often its encoder runs.
/// </summary>
internal sealed class StandInBackbone : nn.Module<Tensor, Tensor>, ISplitConditionedBackbone
{
    private readonly Conv2d head;
    private readonly Conv2d down1;
    private readonly Conv2d down2;
    private readonly Conv2d up2;
    private readonly Conv2d up1;
    private readonly Conv2d tail;
    private readonly ConditionPoint[] _points;

    public int EncodeCalls { get; private set; }

    public StandInBackbone(bool twoFullResPoints = false) : base("StandIn")
    {
        head = nn.Conv2d(3, 4, 3, padding: 1);
        down1 = nn.Conv2d(4, 8, 3, stride: 2, padding: 1);
        down2 = nn.Conv2d(8, 16, 3, stride: 2, padding: 1);
        up2 = nn.Conv2d(16, 8, 3, padding: 1);
        up1 = nn.Conv2d(8, 4, 3, padding: 1);
        tail = nn.Conv2d(4, 3, 3, padding: 1);
        var points = new List<ConditionPoint> { new("d4", 4, 16), new("d2", 2, 8), new("d1", 1, 4) };
        if (twoFullResPoints) points.Add(new ConditionPoint("d1_tail", 1, 4));
        _points = points.ToArray();
        RegisterComponents();
    }

    public IReadOnlyList<ConditionPoint> ConditionPoints => _points;
    public int SizeMultiple => 4;
    public long InputChannels => 3;

    public override Tensor forward(Tensor x) => ForwardConditioned(x, null);

    public Tensor ForwardConditioned(Tensor x, IConditionInjector? injector)
    {
        using var scope = NewDisposeScope();
        var f = Encode(x);
        return Decode(f, injector).MoveToOuterDisposeScope();
    }

    public BackboneFeatures Encode(Tensor x)
    {
        if (x.shape[2] % SizeMultiple != 0 || x.shape[3] % SizeMultiple != 0)
            throw new ArgumentException($"stand-in needs multiples of {SizeMultiple}, got {x.shape[2]}x{x.shape[3]}");
        EncodeCalls++;
        var e1 = nn.functional.gelu(head.forward(x));
        var e2 = nn.functional.gelu(down1.forward(e1));
        var e3 = nn.functional.gelu(down2.forward(e2));
        return new BackboneFeatures(x, new Dictionary<string, Tensor> { ["e1"] = e1, ["e2"] = e2, ["e3"] = e3 });
    }

    public Tensor Decode(BackboneFeatures f, IConditionInjector? injector)
    {
        Tensor At(int i, Tensor t) => injector is null ? t : injector.Inject(_points[i], t);
        var d3 = At(0, f.Tensors["e3"]);
        var d2 = At(1, nn.functional.gelu(up2.forward(nn.functional.interpolate(d3, scale_factor: [2.0, 2.0]))).Plus(f.Tensors["e2"]));
        var d1 = At(2, nn.functional.gelu(up1.forward(nn.functional.interpolate(d2, scale_factor: [2.0, 2.0]))).Plus(f.Tensors["e1"]));
        if (_points.Length > 3) d1 = At(3, d1);
        return tail.forward(d1).Plus(f.Input);
    }
}

/// <summary>A module without hooks, to check the map refuses it.</summary>
internal sealed class NoHooksNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv = nn.Conv2d(3, 3, 1);
    public NoHooksNet() : base("NoHooks") => RegisterComponents();
    public override Tensor forward(Tensor x) => conv.forward(x);
}
