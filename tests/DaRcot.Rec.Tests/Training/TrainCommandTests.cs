using DaRcot.Rec.Training;
using DaRcot.Rec.Tests.Infrastructure;

namespace DaRcot.Rec.Tests.Training;

/// <summary>A tiny <c>darcot train</c> run in-process: checkpoint, CSV, plot and weights come out; resume continues.</summary>
/// <remarks>In the console-capture collection (it redirects the console through <see cref="CliRun"/>). That collection
/// is non-parallel like <see cref="TrainerCollection"/>: xunit runs every DisableParallelization collection after the
/// parallel ones, one at a time, so these trainer runs still never overlap another test's allocations.</remarks>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class TrainCommandTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "darcot-train-cli-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    private string WriteConfig(long maxSteps, string device = "cpu")
    {
        var clean = Path.Combine(dir, "clean");
        Directory.CreateDirectory(clean);
        foreach (var name in new[] { "astronaut.png", "coffee.png" })
            File.Copy(Fixtures.Path("images", name), Path.Combine(clean, name), overwrite: true);
        var config = Path.Combine(dir, "train.json");
        File.WriteAllText(config, $$"""
        {
          // a tiny NAFNet against the size-agnostic potential
          "model": { "arch": "nafnet", "config": { "width": 8, "middle_blk_num": 1, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1] } },
          "potential": { "kind": "pooled" },
          "data": { "clean": "clean", "tasks": ["denoise_25", "denoise_50"], "patch_size": 32, "batch_size": 2, "samples_per_epoch": 6, "workers": 1 },
          "trainer": { "epochs": 2, "max_steps": {{maxSteps}}, "checkpoint_every": 2, "mode": "PartiallyPaired", "pairnum": 2 },
          "output": "run",
          "device": "{{device}}"
        }
        """);
        return config;
    }

    private static (int Code, string Error) Darcot(params string[] args)
    {
        var r = CliRun.Capture(args);
        return (r.Code, r.Err);
    }

    private static void AssertOk((int Code, string Error) r) => Assert.True(r.Code == 0, $"exit {r.Code}: {r.Error}");

    [SkippableFact]
    public void Train_TinyRun_WritesCheckpointCsvPlotAndWeights_AndResumes()
    {
        var config = WriteConfig(4);
        AssertOk(Darcot("train", config, "--quiet"));
        var run = Path.Combine(dir, "run");
        var ckpt = Path.Combine(run, TrainingCheckpoint.DefaultFileName);
        Assert.Equal(4, TrainingCheckpoint.ReadPosition(ckpt).Step);
        Assert.Equal(2, TrainingCheckpoint.ReadPosition(ckpt).Epoch);   // 3 batches per epoch
        Assert.Equal(5, File.ReadAllLines(Path.Combine(run, "loss_history.csv")).Length);
        Assert.True(new FileInfo(Path.Combine(run, "loss_history.png")).Length > 1000);
        Assert.True(File.Exists(Path.Combine(run, "transport.safetensors")));
        var weights = DaRcot.Rec.Checkpoints.SafetensorsFile.Read(Path.Combine(run, "transport.safetensors"));
        Assert.Contains("intro.weight", weights.Keys);
        Assert.Equal(File.ReadAllText(config), File.ReadAllText(Path.Combine(run, "config.json")));   // the run's config, verbatim
        Assert.Empty(Directory.GetFiles(run, "*.tmp"));

        // A second run into the same folder needs --resume; with it, training continues to max_steps.
        var again = Darcot("train", config, "--quiet");
        Assert.Equal(1, again.Code);
        Assert.Contains("--resume", again.Error);
        WriteConfig(6);
        AssertOk(Darcot("train", config, "--resume", "--quiet"));
        Assert.Equal(6, TrainingCheckpoint.ReadPosition(ckpt).Step);
        Assert.Equal(7, File.ReadAllLines(Path.Combine(run, "loss_history.csv")).Length);
    }

    [SkippableFact]
    public void Train_UnknownDevice_FailsWithTheLibrarysDeviceError_BeforeWritingAnything()
    {
        var config = WriteConfig(1, device: "gpu9");
        var r = Darcot("train", config, "--quiet");
        Assert.Equal(1, r.Code);
        var line = Assert.Single(r.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("darcot train: ", line);
        Assert.Contains("'gpu9'", line);
        Assert.Contains("cuda:N", line);   // Restorer.ResolveDevice's wording: the CLI accepts cpu, cuda and cuda:N
        Assert.False(Directory.Exists(Path.Combine(dir, "run")));
    }

    [Fact]
    public void Train_BadConfig_FailsWithExitCode1()
    {
        Directory.CreateDirectory(dir);
        var config = Path.Combine(dir, "bad.json");
        File.WriteAllText(config, """{ "model": { "arch": "nafnet" }, "output": "x" }""");
        AssertFails(Darcot("train", config), "'data' is required");
        File.WriteAllText(config, """{ "model": { "arch": "nafnet" }, "data": { "clean": "nowhere" }, "output": "x" }""");
        AssertFails(Darcot("train", config), "does not exist");
        File.WriteAllText(config, """{ "modle": {} }""");
        AssertFails(Darcot("train", config), "modle");
        AssertFails(Darcot("train", Path.Combine(dir, "missing.json")), "missing.json");
    }

    // Exit code 1 and one "darcot train: ..." line on stderr that mentions the problem (no stack trace).
    private static void AssertFails((int Code, string Error) r, string mention)
    {
        Assert.Equal(1, r.Code);
        var line = Assert.Single(r.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("darcot train: ", line);
        Assert.Contains(mention, line);
    }
}
