using System.Diagnostics;
using DaRcot.Cli;
using DaRcot.Rec.Training;

namespace DaRcot.Rec.Tests.Cli;

/// <summary>A real SIGINT to a real <c>darcot train</c> process: it stops after the current step with a consistent
/// checkpoint and exit code 130 (it used to be killed mid-run, or to ignore the signal).</summary>
public sealed class CtrlCTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-ctrlc-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task The_first_interrupt_stops_training_cleanly_with_exit_code_130()
    {
        var clean = Directory.CreateDirectory(Path.Combine(_dir, "clean")).FullName;
        foreach (var (name, seed) in new[] { ("a.png", 1), ("b.png", 2) }) Data.TempFolder.Random(Path.Combine(clean, name), 40, 40, seed);
        var config = Path.Combine(_dir, "train.json");
        File.WriteAllText(config, """
        {
          "model": { "arch": "nafnet", "config": { "width": 8, "middle_blk_num": 1, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1] } },
          "potential": { "kind": "pooled" },
          "data": { "clean": "clean", "tasks": ["denoise_25"], "patch_size": 32, "batch_size": 2, "workers": 1 },
          "trainer": { "epochs": 100000, "checkpoint_every": 1000000, "plot": false },
          "output": "run"
        }
        """);
        var cli = typeof(CliCommands).Assembly.Location;
        var start = new ProcessStartInfo("dotnet", [cli, "train", config, "--quiet"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        // Both streams are drained all the time: a full pipe would block the child's logger and with it training.
        var stdout = new System.Text.StringBuilder();
        var stderrText = new System.Text.StringBuilder();
        var trainingStarted = new TaskCompletionSource();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) stdout.AppendLine(e.Data);
            // A few epochs (one batch each) are done: training is under way.
            if (e.Data.Contains("Epoch 3:", StringComparison.Ordinal)) trainingStarted.TrySetResult();
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderrText) stderrText.AppendLine(e.Data);
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string Output() { lock (stdout) lock (stderrText) return stdout + "\n--- stderr ---\n" + stderrText; }
        try
        {
            var started = await Task.WhenAny(trainingStarted.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(90)));
            Assert.True(started == trainingStarted.Task, "training did not start: " + Output());
            using (var kill = Process.Start(new ProcessStartInfo("kill", [InterruptSignal(), process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!)
                await kill.WaitForExitAsync();
            var exited = process.WaitForExitAsync();
            Assert.True(await Task.WhenAny(exited, Task.Delay(TimeSpan.FromSeconds(60))) == exited, "no exit after SIGINT: " + Output());
            await exited;   // also waits for the redirected streams to be drained
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        var err = stderrText.ToString();

        Assert.Equal(130, process.ExitCode);
        Assert.Contains("interrupted; stopping cleanly", err);
        Assert.Contains("cancelled after step", err);
        var run = Path.Combine(_dir, "run");
        var position = TrainingCheckpoint.ReadPosition(Path.Combine(run, TrainingCheckpoint.DefaultFileName));
        Assert.True(position.Step >= 2, $"step {position.Step}");
        Assert.Contains($"cancelled after step {position.Step};", err);
        Assert.Equal(position.Step + 1, File.ReadAllLines(Path.Combine(run, "loss_history.csv")).Length);
        Assert.False(File.Exists(Path.Combine(run, RunFolderLock.FileName)));   // released on the way out
        Assert.Empty(Directory.GetFiles(run, "*.tmp"));
    }

    // SIGINT, unless this process ignores it: a shell starts background jobs ('cmd &') with SIGINT ignored, the
    // children inherit that, and .NET then leaves it ignored, so the test would only measure how it was started.
    // SIGTERM takes the same path in darcot (CliInterrupt handles both alike).
    private static string InterruptSignal()
    {
        const int sigint = 2;
        var line = File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal)) : null;
        var ignored = line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (sigint - 1))) != 0;
        return ignored ? "-TERM" : "-INT";
    }
}
