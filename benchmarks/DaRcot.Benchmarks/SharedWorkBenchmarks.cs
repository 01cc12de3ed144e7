using BenchmarkDotNet.Attributes;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Benchmarks;

/// <summary>
/// Suite 2: what sharing work between the two passes saves. DA-RCOT's second pass differs from the first only in
/// the decoder (conditions are added after the latent stage), so <see cref="DaRcotNet"/> runs the encoder and
/// <c>latent</c> once. Two references run on the same network's own modules, written here from the official
/// forward: <see cref="RecomputeLatent"/> recomputes <c>latent</c> for pass 2 as the official code does, and
/// <see cref="FullTwoPass"/> (the baseline) is the naive REC: the whole network twice, encoder included.
/// [GlobalSetup] checks that all three give the same image, so the timings compare equal work.
/// </summary>
[Config(typeof(ModelJobConfig))]
public class SharedWorkBenchmarks
{
    private DaRcotNet _net = null!;
    private Dictionary<string, nn.Module<Tensor, Tensor>> _m = null!;
    private Tensor _input = null!;

    [Params(64, 128)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        BenchSetup.Init();
        using (no_grad())
            _net = DaRcotNet.Create(new DaRcotConfig { Dim = 48, NumBlocks = [1, 1, 1, 1], NumRefinementBlocks = 1 });
        _net.eval();
        _m = _net.named_children().ToDictionary(c => c.name, c => (nn.Module<Tensor, Tensor>)c.module);
        _input = rand(1, 3, Size, Size);

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ours = _net.call(_input);
        foreach (var (name, other) in new[] { ("RecomputeLatent", Reference(_input, false)), ("FullTwoPass", Reference(_input, true)) })
        {
            var diff = (ours - other).abs().max().ToDouble();
            if (diff > 1e-4) throw new InvalidOperationException($"{name} differs from DaRcotNet by {diff}; the reference is wrong.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _net.Dispose();
        _input.Dispose();
    }

    [Benchmark(Description = "DaRcotNet (encoder+latent once)")]
    public void Shared()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        _net.call(_input);
    }

    [Benchmark(Description = "recompute latent (official)")]
    public void RecomputeLatent()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        Reference(_input, fullSecondPass: false);
    }

    [Benchmark(Baseline = true, Description = "two full passes (naive)")]
    public void FullTwoPass()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        Reference(_input, fullSecondPass: true);
    }

    // The work sharing saves, timed alone: naive ≈ shared + this.
    [Benchmark(Description = "encoder+latent alone (the saving)")]
    public void EncoderAndLatentOnly()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        M("latent", Encode(_input).E4);
    }

    private Tensor M(string name, Tensor x) => _m[name].call(x);

    // Encoder and latent: the work the shared implementation does once.
    private (Tensor E1, Tensor E2, Tensor E3, Tensor E4) Encode(Tensor x)
    {
        var e1 = M("encoder_level1", M("patch_embed", x));
        var e2 = M("encoder_level2", M("down1_2", e1));
        var e3 = M("encoder_level3", M("down2_3", e2));
        return (e1, e2, e3, M("down3_4", e3));
    }

    private Tensor Reference(Tensor x, bool fullSecondPass)
    {
        // Pass 1 (inputs are multiples of 8, so no padding is needed).
        var (e1, e2, e3, d4) = Encode(x);
        var y1 = Decode(x, e1, e2, e3, M("latent", d4), null, null, null);

        // REGM on the residual, exactly as the network wires it.
        var r = x - y1;
        var f1 = M("resencoder_level1", M("patch_embed", r));
        var f2 = M("resencoder_level2", M("resdown1_2", f1));
        var f3 = M("resencoder_level3", M("resdown2_3", f2));
        var r3 = M("reslatent", M("down3_4", f3));
        var g = M("resreduce_chan_level3", cat([M("resup4_3", M("resreduce_noise_level3", M("resnoise_level3", r3))), f3], 1));
        var r2 = M("resdecoder_level3", g);
        var r1 = M("decoder_level2", M("reduce_chan_level2", cat([M("up3_2", r2), f2], 1)));

        // Pass 2: the naive REC recomputes everything; the official code recomputes latent.
        if (fullSecondPass) (e1, e2, e3, d4) = Encode(x);
        return Decode(x, e1, e2, e3, M("latent", d4), r3, r2, r1);
    }

    private Tensor Decode(Tensor x, Tensor e1, Tensor e2, Tensor e3, Tensor lat, Tensor? c3, Tensor? c2, Tensor? c1)
    {
        const double s = DaRcotNet.ConditionScale;
        var a1 = M("reduce_noise_level3", M("noise_level3", c3 is null ? lat : lat + s * c3));
        var b = M("decoder_level3", M("reduce_chan_level3", cat([M("up4_3", a1), e3], 1)));
        var b1 = M("reduce_noise_level2", M("noise_level2", c2 is null ? b : b + s * c2));
        var d = M("decoder_level2", M("reduce_chan_level2", cat([M("up3_2", b1), e2], 1)));
        var d1 = M("reduce_noise_level1", M("noise_level1", c1 is null ? d : d + s * c1));
        var e = M("refinement", M("decoder_level1", cat([M("up2_1", d1), e1], 1)));
        return M("output", e) + x;
    }
}

/// <summary>
/// Suite 2b: the same saving in the generic REC map. A Restormer (dim 16) implements the split hooks, so with
/// <see cref="RecOptions.ShareEncoder"/> the wrapper encodes once and decodes twice; without it, it runs the whole
/// backbone twice (baseline).
/// </summary>
[Config(typeof(ModelJobConfig))]
public class RecShareEncoderBenchmarks
{
    private ResidualConditionedMap _shared = null!, _naive = null!;
    private Tensor _input = null!;

    [Params(128)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        BenchSetup.Init();
        var config = new DaRcot.Rec.Backbones.RestormerConfig { Dim = 16, NumBlocks = [1, 1, 1, 1], NumRefinementBlocks = 1 };
        using (no_grad())
        {
            _shared = RecModels.RestormerRec(config, new RecOptions { ShareEncoder = true });
            _naive = RecModels.RestormerRec(config, new RecOptions { ShareEncoder = false });
            // Same weights in both, so the two differ only in how much they compute.
            _naive.load_state_dict(_shared.state_dict());
        }
        _shared.eval();
        _naive.eval();
        _input = rand(1, 3, Size, Size);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _shared.Dispose();
        _naive.Dispose();
        _input.Dispose();
    }

    [Benchmark(Description = "REC map, shared encoder")]
    public void SharedEncoder()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        _shared.call(_input);
    }

    [Benchmark(Baseline = true, Description = "REC map, backbone twice")]
    public void BackboneTwice()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        _naive.call(_input);
    }
}
