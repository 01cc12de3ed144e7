using System.IO.Compression;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Training;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Training;

/// <summary>Resuming from a damaged checkpoint is all or nothing, and unreadable files give the typed error.</summary>
[Collection(TrainerCollection.Name)]
public sealed class TrainingCheckpointTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "darcot-ckpt-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    private static OtTrainerOptions Options(string? outDir, long maxSteps) => new()
    {
        Epochs = 2,
        LearningRate = 1e-3,
        Mode = PairingMode.Paired,
        PairedWeight = 10.0,
        MaxSteps = maxSteps,
        OutputDirectory = outDir,
        Seed = 3,
        WritePlot = false,
    };

    private string GoodCheckpoint()
    {
        using var t = new TinyDenoiser();
        using var p = new TinyCritic();
        using var trainer = new OtTrainer(t, p, Options(dir, 2));
        trainer.Train(new RandomBatchSource());
        return Path.Combine(dir, TrainingCheckpoint.DefaultFileName);
    }

    // A copy of the checkpoint with one entry replaced.
    private string Damaged(string good, string entry, Func<ZipArchive, byte[]> content)
    {
        var path = Path.Combine(dir, "damaged-" + entry + ".darcot-train");
        File.Copy(good, path);
        using var zip = ZipFile.Open(path, ZipArchiveMode.Update);
        var bytes = content(zip);
        zip.GetEntry(entry)!.Delete();
        using var s = zip.CreateEntry(entry).Open();
        s.Write(bytes);
        return path;
    }

    private static byte[] EntryBytes(ZipArchive zip, string name)
    {
        using var ms = new MemoryStream();
        using (var s = zip.GetEntry(name)!.Open()) s.CopyTo(ms);
        return ms.ToArray();
    }

    private static List<float[]> Snapshot(nn.Module m) =>
        m.parameters().Select(q => q.detach().cpu().data<float>().ToArray()).ToList();

    [Theory]
    [InlineData("potential.bin")]             // weights of another network (T's): fails after T was loaded
    [InlineData("potential_optimizer.bin")]   // truncated: fails after both networks and T's optimizer were loaded
    [InlineData("loss_history.csv")]          // not a loss history: fails before anything is loaded
    public void FailedResume_LeavesTheTrainerExactlyAsItWas(string entry)
    {
        var good = GoodCheckpoint();
        var damaged = Damaged(good, entry, zip => entry switch
        {
            "potential.bin" => EntryBytes(zip, "transport.bin"),
            "potential_optimizer.bin" => EntryBytes(zip, entry)[..7],
            _ => "not,a,loss,history\n1,2,3\n"u8.ToArray(),
        });

        // Reference: a trainer that never saw the damaged file, trained for two steps.
        List<double> reference;
        using (var t = new TinyDenoiser(seed: 99)) using (var p = new TinyCritic(seed: 98)) using (var trainer = new OtTrainer(t, p, Options(null, 2)))
            reference = trainer.Train(new RandomBatchSource()).Rows.Select(r => r.TransportLoss).ToList();

        using var t2 = new TinyDenoiser(seed: 99);
        using var p2 = new TinyCritic(seed: 98);
        using var trainer2 = new OtTrainer(t2, p2, Options(null, 2));
        var (tBefore, pBefore) = (Snapshot(t2), Snapshot(p2));
        var e = Assert.Throws<CheckpointFormatException>(() => trainer2.Resume(damaged));
        Assert.Equal(damaged, e.Path);
        Assert.Equal(tBefore, Snapshot(t2));
        Assert.Equal(pBefore, Snapshot(p2));
        Assert.Equal(0, trainer2.Position.Step);
        Assert.Empty(trainer2.History.Rows);
        // Optimizer states untouched as well: training from here matches the reference step for step.
        var after = trainer2.Train(new RandomBatchSource()).Rows.Select(r => r.TransportLoss).ToList();
        Assert.Equal(reference.Count, after.Count);
        for (var i = 0; i < reference.Count; i++) Assert.True(Math.Abs(reference[i] - after[i]) <= 1e-6 * Math.Abs(reference[i]), $"step {i + 1}: {reference[i]:R} vs {after[i]:R}");

        // The intact checkpoint still loads into the same trainer objects.
        using var t3 = new TinyDenoiser(seed: 99);
        using var p3 = new TinyCritic(seed: 98);
        using var trainer3 = new OtTrainer(t3, p3, Options(null, 4));
        trainer3.Resume(good);
        Assert.Equal(2, trainer3.Position.Step);
    }

    [Fact]
    public void LockedFile_GivesCheckpointFormatExceptionNamingTheFile()
    {
        var good = GoodCheckpoint();
        // .NET on Unix enforces FileShare with advisory locks, so an exclusive handle makes opening fail with IOException.
        using (new FileStream(good, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            var e = Assert.Throws<CheckpointFormatException>(() => TrainingCheckpoint.ReadPosition(good));
            Assert.Equal(good, e.Path);
            Assert.IsAssignableFrom<IOException>(e.InnerException);
        }
        Assert.Equal(2, TrainingCheckpoint.ReadPosition(good).Step);
    }
    [Fact]
    public void Resume_restores_the_global_generator_so_undirected_draws_continue_the_same_stream()
    {
        var good = GoodCheckpoint();   // written with the global generator in some state S
        // Draws after S, as a run continuing from the checkpoint would make them.
        using var t = new TinyDenoiser();
        using var p = new TinyCritic();
        using var trainer = new OtTrainer(t, p, Options(null, 2));
        trainer.Resume(good);
        using var expected = rand(8);
        // Elsewhere in the stream, then resume again: the same draws as right after the first resume.
        manual_seed(12345);
        using (rand(100)) { }
        trainer.Resume(good);
        using var again = rand(8);
        Assert.Equal(expected.data<float>().ToArray(), again.data<float>().ToArray());
    }
}
