using BenchmarkDotNet.Attributes;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Benchmarks;

/// <summary>
/// Suite 1: CPU forward latency (batch 1, no_grad, eval mode) of tiny/small configurations of every network at
/// 64×64 and 128×128. Random weights: latency does not depend on their values.
/// </summary>
[Config(typeof(ModelJobConfig))]
public class ForwardLatencyBenchmarks
{
    // Official constructor arguments, as ModelFactory reads them. darcot-small is the DA-RCOT parity fixture's
    // configuration (shared/parity/darcot_mrcnet_small/case.json: dim 48, one block per level, 14.5 M parameters).
    private static readonly Dictionary<string, (string Arch, string Json)> Models = new()
    {
        ["restormer-d16"] = ("restormer", """{"dim": 16, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1}"""),
        ["nafnet-w16"] = ("nafnet", """{"width": 16, "middle_blk_num": 1, "enc_blk_nums": [1, 1, 1, 1], "dec_blk_nums": [1, 1, 1, 1]}"""),
        ["mprnet-tiny"] = ("mprnet", """{"n_feat": 8, "scale_unetfeats": 4, "scale_orsnetfeats": 4, "num_cab": 1}"""),
        ["darcot-small"] = ("darcot", """{"dim": 48, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1, "decoder": true}"""),
        // The same Restormer inside the generic REC map (default REGM width 48, zero-initialised injection).
        ["restormer-d16-rec"] = ("restormer-rec", """{"dim": 16, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1}"""),
    };

    private nn.Module<Tensor, Tensor> _model = null!;
    private Tensor _input = null!;

    [ParamsSource(nameof(ModelNames))]
    public string Model { get; set; } = "";

    [Params(64, 128)]
    public int Size { get; set; }

    public static IEnumerable<string> ModelNames => Models.Keys;

    [GlobalSetup]
    public void Setup()
    {
        BenchSetup.Init();
        var (arch, json) = Models[Model];
        _model = BenchSetup.CreateModel(arch, json);
        _input = BenchSetup.RestorerInput(Size);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _model.Dispose();
        _input.Dispose();
    }

    [Benchmark]
    public void Forward()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        _model.call(_input);
    }
}
