using System.Security.Cryptography;
using DaRcot.Rec.Tests.Infrastructure;
using DaRcot.Rec.Training;

namespace DaRcot.Rec.Tests.Training;

/// <summary><c>darcot train</c>: reproducible runs and resumes, the folder lock, stale temporary files, a failed
/// resume that changes nothing, unusable images skipped, the critic sized to the model, one-line config errors.</summary>
/// <remarks>In the console-capture collection: it captures the console and seeds libtorch's global generator, so
/// nothing may run beside it.</remarks>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class TrainReliabilityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-train-rel-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Config(string run, long maxSteps, int width = 8, int workers = 2, string? trainer = null)
    {
        var clean = Path.Combine(_dir, "clean");
        if (!Directory.Exists(clean))
        {
            Directory.CreateDirectory(clean);
            foreach (var (name, seed) in new[] { ("a.png", 1), ("b.png", 2), ("c.png", 3) })
                Data.TempFolder.Random(Path.Combine(clean, name), 40, 40, seed);
        }
        var path = Path.Combine(_dir, run + ".json");
        File.WriteAllText(path, $$"""
        {
          "model": { "arch": "nafnet", "config": { "width": {{width}}, "middle_blk_num": 1, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1] } },
          "potential": { "kind": "pooled" },
          "data": { "clean": "clean", "tasks": ["denoise_25"], "patch_size": 32, "batch_size": 2, "samples_per_epoch": 4, "workers": {{workers}} },
          "trainer": { {{trainer ?? $"\"epochs\": 4, \"max_steps\": {maxSteps}, \"checkpoint_every\": 2, \"mode\": \"PartiallyPaired\", \"pairnum\": 2, \"plot\": false"}} },
          "output": "{{run}}"
        }
        """);
        return path;
    }

    private static (int Code, string Out, string Err) Train(params string[] args) => CliRun.Capture(["train", .. args, "--quiet"]);

    private string Run(string name) => Path.Combine(_dir, name);

    private static string Hash(string file) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));

    private static Dictionary<string, string> Snapshot(string folder) =>
        Directory.GetFiles(folder).ToDictionary(f => Path.GetFileName(f), f => Hash(f));

    [Fact]
    public void Model_init_starts_training_from_the_given_weights()
    {
        var first = Train(Config("a", 2));
        Assert.True(first.Code == 0, first.Err);
        var trained = Path.Combine(Run("a"), "transport.safetensors");
        // One step at a negligible learning rate: the result is wherever training started.
        const string tinyStep = "\"epochs\": 1, \"max_steps\": 1, \"lr\": 1e-12, \"plot\": false";
        string WithInit(string run, string? init)
        {
            var path = Config(run, 1, trainer: tinyStep);
            var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!;
            if (init is not null) json["model"]!["init"] = init;
            File.WriteAllText(path, json.ToJsonString());
            return path;
        }
        var fromInit = Train(WithInit("b", "a/transport.safetensors"));
        Assert.True(fromInit.Code == 0, fromInit.Err);
        var fresh = Train(WithInit("c", null));
        Assert.True(fresh.Code == 0, fresh.Err);

        var a = DaRcot.Rec.Checkpoints.SafetensorsFile.Read(trained);
        var b = DaRcot.Rec.Checkpoints.SafetensorsFile.Read(Path.Combine(Run("b"), "transport.safetensors"));
        var c = DaRcot.Rec.Checkpoints.SafetensorsFile.Read(Path.Combine(Run("c"), "transport.safetensors"));
        try
        {
            Assert.Equal(a.Keys.Order(), b.Keys.Order());
            Assert.All(a, kv => Assert.True(kv.Value.allclose(b[kv.Key], rtol: 0, atol: 1e-6), kv.Key));
            // Without init the same run starts from its random weights, which two Adam steps at 1e-3 have moved.
            Assert.Contains(a, kv => !kv.Value.allclose(c[kv.Key], rtol: 0, atol: 1e-5));
        }
        finally
        {
            foreach (var t in a.Values.Concat(b.Values).Concat(c.Values)) t.Dispose();
        }

        var missing = Train(WithInit("d", "nowhere.safetensors"));
        Assert.Equal(1, missing.Code);
        Assert.Contains("'model.init' file", missing.Err, StringComparison.Ordinal);
        Assert.Contains("nowhere.safetensors' does not exist", missing.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_runs_and_two_resumes_of_one_config_give_identical_loss_histories()
    {
        foreach (var run in new[] { "a", "b" })
        {
            var r = Train(Config(run, 4));
            Assert.True(r.Code == 0, r.Err);
        }
        var history = File.ReadAllText(Path.Combine(Run("a"), "loss_history.csv"));
        Assert.Equal(5, history.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(history, File.ReadAllText(Path.Combine(Run("b"), "loss_history.csv")));
        Assert.Equal(Hash(Path.Combine(Run("a"), "transport.safetensors")), Hash(Path.Combine(Run("b"), "transport.safetensors")));

        // Stop at step 2, then resume two copies of that checkpoint to step 4: both equal the uninterrupted run.
        Assert.Equal(0, Train(Config("c", 2)).Code);
        foreach (var copy in new[] { "c1", "c2" })
        {
            Directory.CreateDirectory(Run(copy));
            foreach (var f in Directory.GetFiles(Run("c"))) File.Copy(f, Path.Combine(Run(copy), Path.GetFileName(f)));
            var r = Train(Config(copy, 4), "--resume");
            Assert.True(r.Code == 0, r.Err);
            Assert.Equal(history, File.ReadAllText(Path.Combine(Run(copy), "loss_history.csv")));
        }
    }

    [Fact]
    public void A_second_run_on_a_locked_folder_is_refused_naming_the_owner_and_changes_nothing()
    {
        var config = Config("locked", 2);
        Assert.Equal(0, Train(config).Code);
        var before = Snapshot(Run("locked"));
        using (RunFolderLock.Acquire(Run("locked")))
        {
            var (code, _, err) = Train(config, "--resume");
            Assert.Equal(1, code);
            Assert.Contains($"PID {Environment.ProcessId}", err);
            Assert.Contains(RunFolderLock.FileName, err);
        }
        Assert.Equal(before, Snapshot(Run("locked")));
    }

    [Fact]
    public void A_resume_whose_config_does_not_fit_the_checkpoint_leaves_the_folder_untouched()
    {
        Assert.Equal(0, Train(Config("fit", 2)).Code);
        var before = Snapshot(Run("fit"));
        var (code, _, err) = Train(Config("fit", 4, width: 16), "--resume");   // another network width
        Assert.Equal(1, code);
        Assert.Contains("do not fit", err);
        Assert.Equal(before, Snapshot(Run("fit")));   // config.json included: still the old one
    }

    [Fact]
    public void Temporary_files_of_a_killed_run_are_removed_on_the_next_start()
    {
        Assert.Equal(0, Train(Config("killed", 2)).Code);
        var stale = Path.Combine(Run("killed"), $".{TrainingCheckpoint.DefaultFileName}.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(stale, new byte[4096]);
        var (code, _, err) = Train(Config("killed", 4), "--resume");
        Assert.True(code == 0, err);
        Assert.False(File.Exists(stale));
        Assert.Contains("removed 1 temporary file(s)", err);
    }

    [Fact]
    public void An_unreadable_training_image_is_skipped_listed_and_exits_2()
    {
        var config = Config("skip", 2);
        File.WriteAllText(Path.Combine(_dir, "clean", "b.png"), "not an image");
        try
        {
            var (code, _, err) = Train(config);
            Assert.Equal(2, code);
            Assert.Contains("darcot train: skipped ", err);
            Assert.Contains("b.png", err);
            Assert.Equal(2, TrainingCheckpoint.ReadPosition(Path.Combine(Run("skip"), TrainingCheckpoint.DefaultFileName)).Step);

            (code, _, err) = Train(Config("skip-fast", 2), "--fail-fast");
            Assert.Equal(1, code);
            Assert.Contains("b.png", Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        }
        finally
        {
            File.Delete(Path.Combine(_dir, "clean", "b.png"));
        }
    }

    [Fact]
    public void The_pooled_critic_is_sized_to_a_tiny_model_and_the_run_says_what_a_checkpoint_holds()
    {
        var (code, stdout, err) = Train(Config("small", 2));
        Assert.True(code == 0, err);
        Assert.Contains("pooled critic of width 8", stdout);
        Assert.Contains("each checkpoint holds", stdout);
        var size = new FileInfo(Path.Combine(Run("small"), TrainingCheckpoint.DefaultFileName)).Length;
        Assert.True(size < 5 << 20, $"checkpoint of a tiny model is {size:N0} bytes");   // was 220 MB with the official-width critic
    }

    [Theory]
    [InlineData("\"epochs\": 0", "'trainer.epochs' must be >= 1, got 0.")]
    [InlineData("\"mode\": \"Sideways\"", "'trainer.mode' must be one of Paired, Unpaired, UnpairedOfficial, PartiallyPaired")]
    [InlineData("\"optimizer\": 3.5", "'trainer.optimizer' must be one of RMSprop, Adam")]
    [InlineData("\"epochz\": 3", "unknown field 'epochz' in 'trainer'")]
    public void Config_errors_name_the_field_as_written_and_list_valid_values(string trainerField, string expected)
    {
        var config = Config("bad", 2, trainer: trainerField);
        var (code, _, err) = Train(config);
        Assert.Equal(1, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line);
        Assert.DoesNotContain("Invalid model config", line);
        Assert.DoesNotContain("DaRcot.", line);
        Assert.DoesNotContain("System.", line);
        Assert.False(Directory.Exists(Run("bad")));
    }

    [Fact]
    public void A_data_field_is_not_reported_as_a_model_config()
    {
        var (code, _, err) = Train(Config("data", 2, workers: 0));
        Assert.Equal(1, code);
        Assert.Contains("'data.workers' must be >= 1", err);
    }
    [Fact]
    public void Info_describes_the_trainers_own_checkpoint_and_restore_loads_its_transport_weights()
    {
        Assert.Equal(0, Train(Config("info", 2)).Code);
        var checkpoint = Path.Combine(Run("info"), TrainingCheckpoint.DefaultFileName);
        var (code, stdout, err) = CliRun.Capture("info", checkpoint);
        Assert.True(code == 0, err);
        Assert.Contains("DaRcot training checkpoint", stdout);
        Assert.Contains("step 2, epoch 1, next batch 2; transport NAFNet, potential PooledCritic", stdout);
        Assert.Contains("Container 'transport': state dict [default]", stdout);
        Assert.Contains("Container 'potential': state dict", stdout);
        Assert.Contains("transport optimizer state", stdout);

        var modelConfig = Path.Combine(_dir, "nafnet.json");
        File.WriteAllText(modelConfig, """{ "width": 8, "middle_blk_num": 1, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1] }""");
        var output = Path.Combine(_dir, "restored.png");
        (code, _, err) = CliRun.Capture("restore", Path.Combine(_dir, "clean", "a.png"), "-o", output, "--arch", "nafnet", "--config", modelConfig, "--weights", checkpoint);
        Assert.True(code == 0, err);
        Assert.True(File.Exists(output));
    }
    [Fact]
    public void Unmatched_files_of_an_official_layout_are_named()
    {
        var root = Path.Combine(_dir, "official");
        foreach (var (sub, name, seed) in new[] { ("blur", "a.png", 1), ("sharp", "a.png", 2), ("blur", "b.png", 3), ("blur", "c.png", 4), ("sharp", "c.png", 5) })
            Data.TempFolder.Random(Path.Combine(root, "Deblur", sub, name), 40, 40, seed);
        var config = Path.Combine(_dir, "official.json");
        File.WriteAllText(config, """
        {
          "model": { "arch": "nafnet", "config": { "width": 8, "middle_blk_num": 1, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1] } },
          "potential": { "kind": "pooled" },
          "data": { "official_root": "official", "tasks": ["deblur"], "patch_size": 32, "batch_size": 2 },
          "trainer": { "epochs": 1, "max_steps": 1, "plot": false },
          "output": "official-run"
        }
        """);
        var (code, _, err) = Train(config);
        Assert.True(code == 0, err);
        Assert.Contains("darcot train: note: ", err);
        Assert.Contains("b.png", err);   // the blurred image without a sharp partner
    }
}
