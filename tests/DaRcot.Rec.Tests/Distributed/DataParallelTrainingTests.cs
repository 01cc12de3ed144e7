using DaRcot.Rec.Tests.Infrastructure;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using DaRcot.Cli;
using DaRcot.Rec.Models;
using DaRcot.Rec.Potentials;
using DaRcot.Rec.Tests.Data;
using DaRcot.Rec.Training;
using DaRcot.Rec.Tests.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Distributed;

/// <summary>
/// `darcot train` as a data-parallel MPI job: <c>mpiexec.mpich -n 2</c> × batch 2 against one process × batch 4 on the
/// same samples, 5 steps of PartiallyPaired training (paired steps with the L1 and contrastive terms, an unpaired one,
/// a gradient-penalty step in each) with the tiny NAFNet+REC and the pooled critic that `darcot train` builds; every
/// weight of both networks must agree. MPICH comes from eng/ensure-mpi.sh (run by eng/test.sh): a missing launcher
/// fails the test, it is not skipped.
/// </summary>
/// <remarks>
/// Both runs train in float64 ("dtype": "float64"; the exchange then uses float64 buffers). In float32 the two runs
/// differ by rounding (a batch of 4 summed at once or as 2 + 2), and this tiny critic amplifies rounding: its
/// Wasserstein gradient is a difference of nearly equal terms, and RMSprop divides every gradient by its own size, so
/// a rounding-level gradient becomes a full-size step. A single process changes as much when only its thread count
/// changes (measured: φ(ŷ) differs by 1e-3 relative at step 3). In float64 the rounding is 10⁻¹⁶ and the weights
/// agree to about 10⁻¹⁰, so the 1e-5 bound tests the data-parallel arithmetic itself: a missing or wrong term (an
/// unscaled Fourier sum, a per-rank RMS, a contrastive term without the pairs across ranks, α not sliced from the
/// global draw) moves weights by far more than that.
/// </remarks>
[Collection(TrainerCollection.Name)]   // alone: two training processes, and Weights sets libtorch's default dtype
public sealed class DataParallelTrainingTests(ITestOutputHelper log) : IDisposable
{
    /// <summary>Largest allowed relative difference of a weight tensor: max|a − b| / max|b|.</summary>
    private const double Tolerance = 1e-5;

    private const string Launcher = "mpiexec.mpich";

    private readonly string dir = Directory.CreateTempSubdirectory("darcot-dp-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public async Task Two_ranks_of_batch_two_give_the_weights_of_one_process_of_batch_four()
    {
        var clean = Path.Combine(dir, "clean");
        for (var i = 0; i < 6; i++) TempFolder.Random(Path.Combine(clean, $"img{i}.png"), 48, 48, seed: 40 + i);
        var single = WriteConfig("single");
        var parallel = WriteConfig("parallel");

        var clock = Stopwatch.StartNew();
        var (code1, out1) = await Run(Darcot(null, single), "1 process");
        Assert.True(code1 == 0, out1);
        var oneProcess = clock.Elapsed.TotalSeconds;
        var (code2, out2) = await Run(Darcot(2, parallel), "2 ranks");
        Assert.True(code2 == 0, out2);
        log.WriteLine($"1 process: {oneProcess:0.0} s; 2 ranks: {clock.Elapsed.TotalSeconds - oneProcess:0.0} s (process starts included)");
        log.WriteLine(out2);
        Assert.Contains("throughput: 2 process(es), 5 steps", out2, StringComparison.Ordinal);

        // The same schedule: paired, paired, unpaired (pairnum 8 / batch 4 = 2 paired iterations per epoch), ...
        var h1 = File.ReadAllLines(Path.Combine(dir, "single", "loss_history.csv"));
        var h2 = File.ReadAllLines(Path.Combine(dir, "parallel", "loss_history.csv"));
        Assert.Equal(6, h1.Length);
        Assert.Equal(h1.Select(l => string.Join(",", l.Split(',').Take(4))), h2.Select(l => string.Join(",", l.Split(',').Take(4))));
        Assert.Contains(h1.Skip(1), l => l.Split(',')[3] == "0");

        var a = Weights(Path.Combine(dir, "single"));
        var b = Weights(Path.Combine(dir, "parallel"));
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        var worst = a.Keys.Select(k => (Key: k, Diff: Relative(b[k], a[k]))).OrderByDescending(t => t.Diff).ToList();
        foreach (var (key, diff) in worst.Take(5)) log.WriteLine($"{key}: {diff:E2}");
        Assert.True(worst[0].Diff <= Tolerance, $"{worst[0].Key} differs by {worst[0].Diff:E2} (relative)");
    }

    private string WriteConfig(string output)
    {
        var config = Path.Combine(dir, output + ".json");
        File.WriteAllText(config, """
        {
          "model": { "arch": "nafnet-rec", "config": {
              "backbone": { "width": 8, "middle_blk_num": 1, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1] },
              "rec": { "injector": "ZeroInitProjection", "pad_mode": "Zero", "dense_downscale": 8, "regm_width": 8, "regm_blocks": [1, 1, 1, 1], "regm_heads": [1, 1, 2, 2] } } },
          "potential": { "kind": "pooled" },
          "data": { "clean": "clean", "tasks": ["denoise_25", "derain", "dehaze"], "patch_size": 32, "batch_size": 4, "samples_per_epoch": 12, "workers": 1 },
          "trainer": { "epochs": 2, "max_steps": 5, "mode": "PartiallyPaired", "pairnum": 8, "plot": false },
          "dtype": "float64",
          "output": "OUTPUT"
        }
        """.Replace("OUTPUT", output, StringComparison.Ordinal));
        return config;
    }

    // Every floating-point weight of both networks in the run's checkpoint, by name.
    private static Dictionary<string, Tensor> Weights(string run)
    {
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(run, "config.json")))!;
        // Built in float64 like the runs (no test runs beside this collection, so the global default is ours).
        var defaultType = get_default_dtype();
        set_default_dtype(ScalarType.Float64);
        nn.Module<Tensor, Tensor> transport, potential;
        try
        {
            (transport, _) = ModelFactory.Create("nafnet-rec", config["model"]!["config"]!.ToJsonString());
            potential = new PooledCritic(PooledCritic.WidthFor(transport.parameters().Sum(p => p.numel())));
        }
        finally
        {
            set_default_dtype(defaultType);
        }
        using var zip = ZipFile.OpenRead(Path.Combine(run, TrainingCheckpoint.DefaultFileName));
        Load(zip, "transport.bin", transport);
        Load(zip, "potential.bin", potential);
        return transport.state_dict().Select(kv => ("transport." + kv.Key, kv.Value))
            .Concat(potential.state_dict().Select(kv => ("potential." + kv.Key, kv.Value)))
            .Where(t => t.Value.is_floating_point())
            .ToDictionary(t => t.Item1, t => t.Value.detach().to(ScalarType.Float64));
    }

    private static void Load(ZipArchive zip, string entry, nn.Module module)
    {
        using var stream = new MemoryStream();
        using (var s = zip.GetEntry(entry)!.Open()) s.CopyTo(stream);
        stream.Position = 0;
        using var reader = new BinaryReader(stream);
        module.load(reader);
    }

    private static double Relative(Tensor actual, Tensor expected)
    {
        var scale = Math.Max(expected.abs().max().item<double>(), 1e-12);
        return (actual - expected).abs().max().item<double>() / scale;
    }

    private static ProcessStartInfo Darcot(int? ranks, string config)
    {
        var cli = typeof(CliCommands).Assembly.Location;
        string[] darcot = [cli, "train", config, "--quiet"];
        var start = ranks is int n
            ? new ProcessStartInfo(Launcher, ["-n", n.ToString(CultureInfo.InvariantCulture), "dotnet", .. darcot])
            : new ProcessStartInfo("dotnet", darcot);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        start.WorkingDirectory = Path.GetDirectoryName(config)!;
        // One libtorch thread per process: two ranks share a small machine.
        start.Environment["DARCOT_THREADS"] = "1";
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("PMI_", StringComparison.Ordinal) || k.StartsWith("OMPI_", StringComparison.Ordinal)).ToList())
            start.Environment.Remove(name);
        return start;
    }

    private static async Task<(int Code, string Output)> Run(ProcessStartInfo start, string name)
    {
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"cannot start {start.FileName} ({e.Message}): run eng/ensure-mpi.sh, which installs MPICH (eng/test.sh does).", e);
        }
        return await ChildProcess.Wait(process, name);
    }
}
