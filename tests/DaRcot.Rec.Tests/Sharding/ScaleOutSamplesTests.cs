using System.Diagnostics;
using DaRcot.Rec.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace DaRcot.Rec.Tests.Sharding;

/// <summary>The scale-out recipes in <c>samples/scale-out</c>: a Kubernetes Indexed Job and a Slurm job array.</summary>
public sealed class ScaleOutSamplesTests
{
    private static string Sample(string name) => Path.Combine(Fixtures.RepoRoot, "samples", "scale-out", name);

    private static YamlNode At(YamlNode node, params object[] path)
    {
        foreach (var step in path)
            node = step is int i ? ((YamlSequenceNode)node).Children[i] : ((YamlMappingNode)node).Children[new YamlScalarNode((string)step)];
        return node;
    }

    private static string Scalar(YamlNode node, params object[] path) => ((YamlScalarNode)At(node, path)).Value!;

    [Fact]
    public void The_Kubernetes_sample_is_an_indexed_job_whose_shard_count_matches_its_completions()
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Sample("kubernetes-restore-job.yaml"))) yaml.Load(reader);
        var job = Assert.Single(yaml.Documents).RootNode;
        Assert.Equal("batch/v1", Scalar(job, "apiVersion"));
        Assert.Equal("Job", Scalar(job, "kind"));
        Assert.Equal("Indexed", Scalar(job, "spec", "completionMode"));
        var completions = int.Parse(Scalar(job, "spec", "completions"), System.Globalization.CultureInfo.InvariantCulture);
        var parallelism = int.Parse(Scalar(job, "spec", "parallelism"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(parallelism, 1, completions);

        var pod = At(job, "spec", "template", "spec");
        var container = At(pod, "containers", 0);
        Assert.Equal(["darcot"], ((YamlSequenceNode)At(container, "command")).Children.Select(c => ((YamlScalarNode)c).Value));
        var args = ((YamlSequenceNode)At(container, "args")).Children.Select(c => ((YamlScalarNode)c).Value!).ToList();
        Assert.Equal("restore", args[0]);
        Assert.Contains("--manifest", args);
        Assert.Contains("-o", args);
        var env = ((YamlSequenceNode)At(container, "env")).Children.ToDictionary(e => Scalar(e, "name"), e => Scalar(e, "value"));
        Assert.Equal(completions.ToString(System.Globalization.CultureInfo.InvariantCulture), env["DARCOT_SHARD_COUNT"]);

        // The manifest and the output folder live on the volume every pod mounts.
        var mount = At(container, "volumeMounts", 0);
        var volume = At(pod, "volumes", 0);
        Assert.Equal(Scalar(mount, "name"), Scalar(volume, "name"));
        Assert.False(string.IsNullOrEmpty(Scalar(volume, "persistentVolumeClaim", "claimName")));
        var mountPath = Scalar(mount, "mountPath");
        Assert.StartsWith(mountPath + "/", args[args.IndexOf("--manifest") + 1]);
        Assert.StartsWith(mountPath + "/", args[args.IndexOf("-o") + 1]);
    }

    [Fact]
    public void The_Slurm_sample_is_a_contiguous_job_array_running_darcot_restore_and_valid_bash()
    {
        var script = File.ReadAllLines(Sample("slurm-restore.sbatch"));
        Assert.Equal("#!/bin/bash", script[0]);
        var array = Assert.Single(script, l => l.StartsWith("#SBATCH --array=", StringComparison.Ordinal));
        Assert.Matches(@"^#SBATCH --array=0-\d+(%\d+)?$", array);
        Assert.Contains(script, l => l.Contains("darcot restore --manifest", StringComparison.Ordinal) && l.Contains(" -o ", StringComparison.Ordinal));
        Assert.DoesNotContain(script, l => l.Contains("--shard", StringComparison.Ordinal));   // the array variables say it

        using var bash = Process.Start(new ProcessStartInfo("bash", ["-n", Sample("slurm-restore.sbatch")]) { RedirectStandardError = true, UseShellExecute = false })!;
        var err = bash.StandardError.ReadToEnd();
        bash.WaitForExit();
        Assert.True(bash.ExitCode == 0, err);
    }
}
