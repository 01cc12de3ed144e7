using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Data.Degradations;
using DaRcot.Rec.Data.Samplers;
using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Tests.Data;

public class DatasetTests
{
    [Fact]
    public void Pairs_real_files_by_stem_and_reports_the_unmatched_ones()
    {
        using var tmp = new TempFolder();
        var input = tmp.Dir("input");
        var target = tmp.Dir("target");
        TempFolder.Random(Path.Combine(input, "a.png"), 8, 8, 1);
        TempFolder.Random(Path.Combine(input, "b.png"), 8, 8, 2);
        TempFolder.Random(Path.Combine(input, "c.png"), 8, 8, 3);
        TempFolder.Random(Path.Combine(target, "a.png"), 8, 8, 4);
        TempFolder.Random(Path.Combine(target, "b.jpg"), 8, 8, 5);
        TempFolder.Random(Path.Combine(target, "d.png"), 8, 8, 6);
        File.WriteAllText(Path.Combine(target, "notes.txt"), "not an image");

        var report = PairedFolder.Match(input, target);

        Assert.Equal(new[] { "a", "b" }, report.Pairs.Select(p => p.Key));
        Assert.Equal(Path.Combine(target, "b.jpg"), report.Pairs[1].TargetPath);
        Assert.Equal(new[] { Path.Combine(input, "c.png") }, report.UnmatchedInputs);
        Assert.Equal(new[] { Path.Combine(target, "d.png") }, report.UnmatchedTargets);
        Assert.False(report.IsComplete);
        Assert.Contains("c.png", report.Describe());
        Assert.Contains("d.png", report.Describe());
    }

    [Fact]
    public void Ambiguous_stems_and_missing_folders_are_clear_errors()
    {
        using var tmp = new TempFolder();
        var input = tmp.Dir("input");
        var target = tmp.Dir("target");
        TempFolder.Random(Path.Combine(input, "a.png"), 8, 8, 1);
        TempFolder.Random(Path.Combine(target, "a.png"), 8, 8, 1);
        TempFolder.Random(Path.Combine(target, "a.jpg"), 8, 8, 1);
        var ex = Assert.Throws<DaRcotException>(() => PairedFolder.Match(input, target));
        Assert.Contains("a.png", ex.Message);
        Assert.Contains("a.jpg", ex.Message);
        var missing = Assert.Throws<DaRcotException>(() => PairedFolder.Match(Path.Combine(tmp.Root, "nope"), target));
        Assert.Contains("nope", missing.Message);
    }

    [Fact]
    public void Unreadable_file_raises_an_error_naming_it_through_the_prefetching_loader()
    {
        using var tmp = new TempFolder();
        var input = tmp.Dir("input");
        var target = tmp.Dir("target");
        TempFolder.Random(Path.Combine(input, "good.png"), 16, 16, 1);
        TempFolder.Random(Path.Combine(target, "good.png"), 16, 16, 2);
        File.WriteAllBytes(Path.Combine(input, "broken.png"), new byte[] { 0x89, 0x50, 0x4E, 0x47, 1, 2, 3 });
        TempFolder.Random(Path.Combine(target, "broken.png"), 16, 16, 3);
        var report = PairedFolder.Match(input, target);
        Assert.True(report.IsComplete);
        var items = report.Pairs.Select(p => new TrainingItem(3, p.TargetPath, p.InputPath, null)).ToArray();
        // FailFast: the error itself must cross the prefetch thread (by default the file is skipped instead).
        var source = new StreamingBatchSource(items, new StreamingBatchOptions { BatchSize = 2, PatchSize = 8, CropBase = 1, PrefetchBatches = 2, FailFast = true });
        var ex = Assert.Throws<ImageDecodeException>(() => { foreach (var b in source.GetBatches(1)) b.Dispose(); });
        Assert.Equal(Path.Combine(input, "broken.png"), ex.Path);
        Assert.Contains("broken.png", ex.Message);
    }

    [Fact]
    public void Official_test_layout_is_discovered_with_rain_and_haze_name_matching()
    {
        using var tmp = new TempFolder();
        TempFolder.Random(Path.Combine(tmp.Dir("Test", "derain", "Rain100L", "input"), "rain-1.png"), 8, 8, 1);
        TempFolder.Random(Path.Combine(tmp.Dir("Test", "derain", "Rain100L", "input"), "rain-2.png"), 8, 8, 2);
        TempFolder.Random(Path.Combine(tmp.Dir("Test", "derain", "Rain100L", "target"), "norain-1.png"), 8, 8, 3);
        TempFolder.Random(Path.Combine(tmp.Dir("Test", "derain", "Rain100L", "target"), "norain-2.png"), 8, 8, 4);
        TempFolder.Random(Path.Combine(tmp.Dir("Test", "dehaze", "input"), "0001_0.8_0.2.jpg"), 8, 8, 5);
        TempFolder.Random(Path.Combine(tmp.Dir("Test", "dehaze", "target"), "0001.png"), 8, 8, 6);
        TempFolder.Random(Path.Combine(tmp.Dir("Test", "denoise", "bsd68"), "x.png"), 8, 8, 7);
        var problems = new List<string>();

        var sets = OfficialTestLayout.Discover(tmp.Root, problems: problems);

        Assert.Equal(new[] { "SOTS", "Rain100L", "BSD68 σ=15", "BSD68 σ=25", "BSD68 σ=50" }, sets.Select(s => s.Name));
        var rain = sets.Single(s => s.Name == "Rain100L");
        Assert.Equal(3, rain.TaskId);
        Assert.Equal(2, rain.Items.Count);
        Assert.EndsWith("norain-2.png", rain.Items[1].TargetPath);
        Assert.EndsWith("rain-2.png", rain.Items[1].InputPath);
        Assert.EndsWith("0001.png", sets[0].Items.Single().TargetPath);
        var bsd25 = sets.Single(s => s.Name == "BSD68 σ=25");
        Assert.Equal(1, bsd25.TaskId);
        Assert.True(bsd25.IsDenoising);
        Assert.Equal(OfficialTestLayout.DenoiseSeed, bsd25.Items.Single().Seed);
        Assert.Contains(problems, p => p.StartsWith("deblur"));
        Assert.Contains(problems, p => p.StartsWith("lowlight"));
        Assert.Throws<DaRcotException>(() => OfficialTestLayout.Discover(tmp.Root, new[] { "deblur" }));
    }

    [Fact]
    public void Official_train_layout_follows_the_list_files_and_name_rules()
    {
        using var tmp = new TempFolder();
        var train = tmp.Dir("Train");
        var lists = tmp.Dir("data_dir");
        TempFolder.Random(Path.Combine(tmp.Dir("Train", "Derain", "rainy"), "rain-7.png"), 8, 8, 1);
        TempFolder.Random(Path.Combine(tmp.Dir("Train", "Derain", "gt"), "norain-7.png"), 8, 8, 2);
        Directory.CreateDirectory(Path.Combine(lists, "rainy"));
        File.WriteAllText(Path.Combine(lists, "rainy", "rainTrain.txt"), "rainy/rain-7.png\nrainy/rain-8.png\n");
        TempFolder.Random(Path.Combine(tmp.Dir("Train", "Dehaze", "synthetic", "part1"), "0025_0.8_0.04.jpg"), 8, 8, 3);
        TempFolder.Random(Path.Combine(tmp.Dir("Train", "Dehaze", "original"), "0025.jpg"), 8, 8, 4);
        TempFolder.Random(Path.Combine(tmp.Dir("Train", "Deblur", "blur"), "g1.png"), 8, 8, 5);
        TempFolder.Random(Path.Combine(tmp.Dir("Train", "Deblur", "sharp"), "g1.png"), 8, 8, 6);
        TempFolder.Random(Path.Combine(tmp.Dir("Train", "Denoise"), "03000.bmp"), 8, 8, 7);
        TempFolder.Random(Path.Combine(tmp.Dir("Train", "Denoise"), "unlisted.png"), 8, 8, 8);
        Directory.CreateDirectory(Path.Combine(lists, "noisy"));
        File.WriteAllText(Path.Combine(lists, "noisy", "denoise.txt"), "03000.bmp\n");

        var set = OfficialTrainLayout.Build(train, new[] { "derain", "dehaze", "deblur", "denoise_25" }, lists);

        var derain = set.Items.Single(i => i.TaskId == 3);
        Assert.EndsWith(Path.Combine("Derain", "gt", "norain-7.png"), derain.TargetPath);
        Assert.Contains(set.Problems, p => p.Contains("rain-8.png")); // listed but absent
        Assert.EndsWith(Path.Combine("Dehaze", "original", "0025.jpg"), set.Items.Single(i => i.TaskId == 4).TargetPath);
        Assert.EndsWith(Path.Combine("Deblur", "sharp", "g1.png"), set.Items.Single(i => i.TaskId == 5).TargetPath);
        var noise = set.Items.Single(i => i.TaskId == 1);
        Assert.EndsWith("03000.bmp", noise.TargetPath);
        Assert.True(noise.IsSynthetic);
        Assert.Equal(25, ((GaussianNoise)noise.Synthesis!).Sigma);

        var repeated = OfficialTrainLayout.Build(train, new[] { "derain", "deblur" }, lists, applyRepeats: true);
        Assert.Equal(360, repeated.CountsPerTask[3]);
        Assert.Equal(35, repeated.CountsPerTask[5]);
    }

    [Fact]
    public void Clean_folder_items_are_synthesised_per_task()
    {
        using var tmp = new TempFolder();
        var dir = tmp.Dir("clean");
        TempFolder.Random(Path.Combine(dir, "a.png"), 8, 8, 1);
        TempFolder.Random(Path.Combine(dir, "b.png"), 8, 8, 2);
        var items = CleanFolderDataset.Build(dir, new[] { "derain", "lowlight" });
        Assert.Equal(4, items.Count);
        Assert.Equal(new[] { 3, 3, 6, 6 }, items.Select(i => i.TaskId));
        Assert.All(items, i => Assert.True(i.IsSynthetic));
    }
}

public class TrainingSourcesTests
{
    [Fact]
    public void Detects_a_clean_folder_or_the_official_layout()
    {
        using var tmp = new TempFolder();
        var clean = tmp.Dir("photos", "sub");
        TempFolder.Random(Path.Combine(clean, "a.png"), 8, 8, 1);
        var synthetic = TrainingSources.FromDirectory(Path.Combine(tmp.Root, "photos"), new[] { "denoise_50", "dehaze" });
        Assert.Equal(new[] { 2, 4 }, synthetic.Items.Select(i => i.TaskId));
        Assert.All(synthetic.Items, i => Assert.True(i.IsSynthetic));

        TempFolder.Random(Path.Combine(tmp.Dir("data", "Train", "Deblur", "blur"), "x.png"), 8, 8, 2);
        TempFolder.Random(Path.Combine(tmp.Dir("data", "Train", "Deblur", "sharp"), "x.png"), 8, 8, 3);
        var official = TrainingSources.FromDirectory(Path.Combine(tmp.Root, "data"), new[] { "deblur" });
        var item = Assert.Single(official.Items);
        Assert.False(item.IsSynthetic);
        Assert.Throws<DaRcotException>(() => TrainingSources.FromDirectory(Path.Combine(tmp.Root, "data"), new[] { "lowlight" }));
    }
}
