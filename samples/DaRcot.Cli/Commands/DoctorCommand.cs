using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Models;
using DaRcot.Rec.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Cli.Commands;

/// <summary>
/// <c>darcot doctor [--arch ARCH [--config CONFIG.json] [--size 64] [--batch 1]] [--threads N] [--json]</c>: what the
/// native runtime is (TorchSharp/libtorch versions, CPU instruction sets, threads, the oneDNN/NNPACK switches, the
/// convolution policy), whether this machine's libtorch has the convolution defects measured on this project's
/// machine (each known-defect probe at 1 and 2 threads), and — with <c>--arch</c> — which of that model's
/// convolutions needed a slower path after one verified forward and backward pass.
/// </summary>
public sealed class DoctorCommand : ICliCommand
{
    /// <inheritdoc />
    public Command Build()
    {
        var arch = new Option<string?>("--arch", "-a") { Description = $"Also verify every convolution of this architecture: {string.Join(", ", ModelFactory.KnownArchs)}." };
        var config = new Option<string?>("--config", "-c") { Description = "JSON file of the architecture's constructor arguments (default: the official defaults)." };
        var size = new Option<int>("--size", "-s") { Description = "Input height and width for --arch.", DefaultValueFactory = _ => 64 };
        var batch = new Option<int>("--batch", "-b") { Description = "Batch size for --arch.", DefaultValueFactory = _ => 1 };
        // --threads is the root's recursive option (CliRuntime.Threads).
        var threads = CliRuntime.Threads;
        var json = new Option<bool>("--json") { Description = "Print JSON instead of text." };
        var command = new Command("doctor", "Report the native runtime and test this machine's libtorch for known convolution defects.");
        foreach (var option in new Option[] { arch, config, size, batch, json }) command.Options.Add(option);
        command.SetAction(r => Run(r.GetValue(arch), r.GetValue(config), r.GetValue(size), r.GetValue(batch), r.GetValue(threads), r.GetValue(json)));
        return command;
    }

    private static int Run(string? arch, string? configPath, int size, int batch, int? threads, bool json)
    {
        if (size < 1) return Fail($"--size must be at least 1, got {size}.");
        if (batch < 1) return Fail($"--batch must be at least 1, got {batch}.");
        if (threads is < 1) return Fail($"--threads must be at least 1, got {threads}.");
        try
        {
            var options = TorchRuntimeOptions.FromEnvironment();
            TorchRuntime.Configure(threads is int n ? options with { Threads = n } : options);
            var model = arch is null ? null : VerifyModel(arch, configPath, size, batch);
            var report = new DoctorReport(TorchRuntime.Describe(), model);
            Console.Out.WriteLine(json ? JsonSerializer.Serialize(report, JsonOptions) : Text(report, arch));
            return 0;
        }
        catch (DaRcotException ex)
        {
            return Fail(ex.Message);
        }
        catch (IOException ex)
        {
            return Fail(ex.Message);
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    /// <summary>The runtime report, and the model's convolution keys when <c>--arch</c> was given.</summary>
    private sealed record DoctorReport(RuntimeReport Runtime, IReadOnlyList<ConvolutionDecision>? Model);

    // One forward and backward pass verifies every convolution key of the model at this size and thread count.
    private static IReadOnlyList<ConvolutionDecision> VerifyModel(string arch, string? configPath, int size, int batch)
    {
        var configJson = configPath is null ? null : File.ReadAllText(configPath);
        var (model, info) = ModelFactory.Create(arch, configJson);
        using var _ = model;
        var side = (size + info.SizeMultiple - 1) / info.SizeMultiple * info.SizeMultiple;
        return TorchRuntime.VerifyConvolutions(() =>
        {
            using var scope = NewDisposeScope();
            using var generator = new Generator(0);
            var x = rand([batch, info.InputChannels, side, side], generator: generator);
            model.forward(x).pow(2).mean().backward();
        });
    }

    private static string Text(DoctorReport report, string? arch)
    {
        var r = report.Runtime;
        var inv = CultureInfo.InvariantCulture;
        var lines = new List<string>
        {
            $"TorchSharp {r.TorchSharpVersion}, libtorch {r.LibTorchVersion}",
            $"CPU: {r.Cpu}",
            $"threads: {r.Threads}",
            $"convolutions: {r.Convolutions} (oneDNN {Switch(r.OneDnnEnabled)}, NNPACK {Switch(r.NnpackEnabled)})" +
                (r.SwitchesProblem is null ? "" : $" — switches unavailable: {r.SwitchesProblem}"),
            "known-defect probes (libtorch's own kernel against a float64 reference; relative errors, tolerance 1e-3):",
        };
        foreach (var p in r.KnownDefects)
            lines.Add(string.Create(inv, $"  {p.Name,-22} {p.Threads}T  forward {p.ForwardError:E1}  input-grad {p.InputGradientError:E1}  weight-grad {p.WeightGradientError:E1}  {(p.Defective ? "DEFECTIVE" : "ok")}"));
        var defective = r.KnownDefects.Count(p => p.Defective);
        lines.Add(defective == 0
            ? "verdict: none of the known convolution defects is present on this machine."
            : $"verdict: {defective} of {r.KnownDefects.Count} probes found a defect; the {ConvolutionPolicy.Verified} policy works around them per convolution.");
        if (report.Model is { } keys)
        {
            var slow = keys.Where(d => d.Path != ConvolutionPath.Native).ToArray();
            lines.Add($"{arch}: {keys.Count} convolution keys verified (forward and gradients), {slow.Length} need a slower path");
            foreach (var d in slow) lines.Add($"  {d.Key} → {d.Path} ({string.Join("; ", d.Failures)})");
        }
        return string.Join(Environment.NewLine, lines);
    }

    private static string Switch(bool? on) => on switch { true => "on", false => "off", null => "unknown" };

    private static int Fail(string message) => CliOutput.Fail("doctor", message);
}
