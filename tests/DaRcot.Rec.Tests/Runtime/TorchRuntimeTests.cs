using System.Text.Json;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Runtime;
using DaRcot.Rec.Tests.Infrastructure;

namespace DaRcot.Rec.Tests.Runtime;

/// <summary>The native-runtime layer: libtorch's context switches, configuration, the known-defect probes.</summary>
[Collection(ThreadCountCollection.Name)]
public class TorchRuntimeTests
{
    [Fact]
    public void The_oneDNN_and_NNPACK_switches_are_reachable_and_NNPACK_is_off_after_first_use()
    {
        TorchRuntime.EnsureInitialized();
        Assert.True(LibTorchContext.IsAvailable, LibTorchContext.Problem);
        Assert.False(LibTorchContext.NnpackEnabled);
        Assert.True(LibTorchContext.OneDnnEnabled);
        try
        {
            LibTorchContext.OneDnnEnabled = false;
            Assert.False(LibTorchContext.OneDnnEnabled);
        }
        finally
        {
            LibTorchContext.OneDnnEnabled = true;
        }
        Assert.True(LibTorchContext.OneDnnEnabled);
    }

    [Fact]
    public void Configure_applies_threads_and_the_oneDNN_policy()
    {
        var before = TorchRuntime.Options;
        var threads = TorchSharp.torch.get_num_threads();
        try
        {
            TorchRuntime.Configure(new TorchRuntimeOptions { Threads = 3, Convolutions = ConvolutionPolicy.OneDnnDisabled });
            Assert.Equal(3, TorchSharp.torch.get_num_threads());
            Assert.False(LibTorchContext.OneDnnEnabled);
            Assert.Equal(ConvolutionPolicy.OneDnnDisabled, TorchRuntime.Options.Convolutions);
        }
        finally
        {
            TorchRuntime.Configure(before with { Threads = threads });
        }
        Assert.True(LibTorchContext.OneDnnEnabled);
        Assert.Equal(threads, TorchSharp.torch.get_num_threads());
    }

    [Theory]
    [InlineData("verified", ConvolutionPolicy.Verified)]
    [InlineData(" Trusted ", ConvolutionPolicy.Trusted)]
    [InlineData("ONEDNN-DISABLED", ConvolutionPolicy.OneDnnDisabled)]
    public void Policies_parse_case_insensitively(string text, ConvolutionPolicy expected) =>
        Assert.Equal(expected, TorchRuntimeOptions.ParsePolicy(text, "x"));

    [Fact]
    public void An_unknown_policy_names_the_setting_and_lists_the_valid_ones()
    {
        var e = Assert.Throws<ModelConfigException>(() => TorchRuntimeOptions.ParsePolicy("fast", "DARCOT_CONVOLUTIONS"));
        Assert.Equal("DARCOT_CONVOLUTIONS", e.Field);
        Assert.Contains("'fast'", e.Message);
        Assert.Contains("verified, trusted or onednn-disabled", e.Message);
    }

    [Fact]
    public void Known_defect_probes_measure_every_case_at_each_thread_count_and_restore_the_count()
    {
        using var _ = TorchThreads.Use(3);
        var results = KnownDefectProbes.RunAll([1, 2]);
        Assert.Equal(3, TorchSharp.torch.get_num_threads());
        Assert.Equal(12, results.Count);
        Assert.Equal(6, results.Select(r => r.Name).Distinct().Count());
        Assert.Equal(new[] { 1, 2 }, results.Select(r => r.Threads).Distinct().Order());
        foreach (var r in results)
        {
            var errors = new[] { r.ForwardError, r.InputGradientError, r.WeightGradientError };
            // A correct kernel measures ~1e-7 here; the verdict must follow the errors, not the other way round.
            Assert.All(errors, e => Assert.True(e >= 0));
            Assert.Equal(errors.Any(e => !(e <= 1e-3)), r.Defective);
        }
    }
}

/// <summary><c>darcot doctor</c>.</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class DoctorCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-doctor-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Text_report_names_versions_cpu_switches_and_every_probe()
    {
        var (code, text, err) = CliRun.Capture("doctor");
        Assert.True(code == 0, err);
        Assert.Contains("TorchSharp 0.107", text);
        Assert.Contains("libtorch 2.10", text);
        Assert.Contains("CPU: ", text);
        Assert.Contains("NNPACK off", text);
        foreach (var probe in new[] { "conv3x3-24in", "conv3x3-40in", "conv1x1-channels-last", "conv3x3-48to3-grad", "conv3x3-96to3-grad", "conv3x3-48to24-grad" })
            Assert.Equal(2, text.Split('\n').Count(l => l.TrimStart().StartsWith(probe + " ", StringComparison.Ordinal)));
        Assert.Contains("verdict: ", text);
    }

    [Fact]
    public void A_model_check_verifies_every_convolution_of_the_model_and_json_is_valid()
    {
        var config = Path.Combine(_dir, "nafnet.json");
        File.WriteAllText(config, """{"width": 8, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1]}""");
        var (code, json, err) = CliRun.Capture("doctor", "--arch", "nafnet", "--config", config, "--size", "24", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(json);
        var decisions = doc.RootElement.GetProperty("Model").EnumerateArray().ToArray();
        // A 2-level width-8 NAFNet has conv keys at three scales; each must have been checked in both directions.
        Assert.True(decisions.Length >= 8, $"{decisions.Length} keys");
        Assert.All(decisions, d => Assert.True(d.GetProperty("ForwardVerified").GetBoolean() && d.GetProperty("BackwardVerified").GetBoolean()));
        Assert.Equal(12, doc.RootElement.GetProperty("Runtime").GetProperty("KnownDefects").GetArrayLength());
    }

    [Fact]
    public void Bad_arguments_are_one_line()
    {
        var (code, _, err) = CliRun.Capture("doctor", "--threads", "0");
        Assert.Equal(1, code);
        Assert.Equal("darcot doctor: --threads must be at least 1, got 0.", err.Trim());
        (code, _, err) = CliRun.Capture("doctor", "--arch", "nosuch");
        Assert.Equal(1, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("nosuch", err);
    }
}
