using BenchmarkDotNet.Attributes;
using DaRcot.Rec.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Benchmarks;

/// <summary>
/// Suite 4: float32 vs bfloat16 mixed precision (<see cref="MixedPrecision"/>) for the default-size networks at
/// 256×256, batch 1, no_grad. The precision scope is entered per forward pass, as <c>Restorer</c> does, so the bfloat16
/// weight copies are part of the time. Random weights (latency does not depend on their values).
/// </summary>
[Config(typeof(ModelJobConfig))]
public class MixedPrecisionBenchmarks
{
    private static readonly Dictionary<string, (string Arch, string? Json)> Models = new()
    {
        // The DA-RCOT parity fixture's configuration (dim 48, one block per level, 14.5 M parameters).
        ["darcot-small"] = ("darcot", """{"dim": 48, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1, "decoder": true}"""),
        // Official defaults: Restormer 26.1 M parameters, MPRNet (deblurring) 20.1 M.
        ["restormer"] = ("restormer", null),
        ["nafnet-gopro-w32"] = ("nafnet", """{"width": 32, "middle_blk_num": 1, "enc_blk_nums": [1, 1, 1, 28], "dec_blk_nums": [1, 1, 1, 1]}"""),
        ["mprnet"] = ("mprnet", null),
    };

    private nn.Module<Tensor, Tensor> _model = null!;
    private Tensor _input = null!;
    private InferencePrecision _precision;

    [ParamsSource(nameof(ModelNames))]
    public string Model { get; set; } = "";

    [Params("fp32", "bf16")]
    public string Precision { get; set; } = "fp32";

    [Params(256)]
    public int Size { get; set; }

    public static IEnumerable<string> ModelNames => Models.Keys;

    [GlobalSetup]
    public void Setup()
    {
        BenchSetup.Init();
        var (arch, json) = Models[Model];
        _model = BenchSetup.CreateModel(arch, json);
        _input = BenchSetup.RestorerInput(Size);
        _precision = MixedPrecision.Parse(Precision, nameof(Precision));
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
        using var mixed = MixedPrecision.Enter(_precision);
        _model.call(_input);
    }
}
