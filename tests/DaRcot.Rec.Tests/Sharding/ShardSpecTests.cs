using DaRcot.Rec.Errors;
using DaRcot.Rec.Inference.Sharding;

namespace DaRcot.Rec.Tests.Sharding;

/// <summary><c>--shard K/N</c> and the shard an array-job scheduler gives through the environment.</summary>
public sealed class ShardSpecTests
{
    private static (ShardSpec Spec, string Source)? FromEnv(params (string Name, string Value)[] variables)
    {
        var map = variables.ToDictionary(v => v.Name, v => v.Value);
        return ShardSpec.FromEnvironment(name => map.GetValueOrDefault(name));
    }

    private static string EnvError(params (string, string)[] variables) => Assert.Throws<ShardingException>(() => FromEnv(variables)).Message;

    [Theory]
    [InlineData("0/1", 0, 1)]
    [InlineData("3/4", 3, 4)]
    [InlineData(" 2/10 ", 2, 10)]
    public void K_of_N_is_parsed(string text, int k, int n) => Assert.Equal(new ShardSpec(k, n), ShardSpec.Parse(text.Trim()));

    [Theory]
    [InlineData("4/4")]
    [InlineData("-1/4")]
    [InlineData("1/0")]
    [InlineData("1")]
    [InlineData("a/b")]
    [InlineData("1/2/3")]
    public void A_bad_K_of_N_names_the_option(string text)
    {
        var message = Assert.Throws<ShardingException>(() => ShardSpec.Parse(text)).Message;
        Assert.Contains("--shard", message);
        Assert.Contains(text, message);
        Assert.DoesNotContain('\n', message);
    }

    [Fact]
    public void Kubernetes_indexed_job_index_with_the_shard_count_from_the_pod_template()
    {
        var (spec, source) = FromEnv(("JOB_COMPLETION_INDEX", "2"), ("DARCOT_SHARD_COUNT", "5")).GetValueOrDefault();
        Assert.Equal(new ShardSpec(2, 5), spec);
        Assert.Contains("JOB_COMPLETION_INDEX=2", source);
    }

    [Fact]
    public void Kubernetes_errors_name_the_variable()
    {
        var missing = EnvError(("JOB_COMPLETION_INDEX", "2"));
        Assert.Contains("DARCOT_SHARD_COUNT is not", missing);
        Assert.Contains("completions", missing);
        Assert.Contains("JOB_COMPLETION_INDEX=5 is outside 0..4", EnvError(("JOB_COMPLETION_INDEX", "5"), ("DARCOT_SHARD_COUNT", "5")));
        Assert.Contains("JOB_COMPLETION_INDEX='two'", EnvError(("JOB_COMPLETION_INDEX", "two"), ("DARCOT_SHARD_COUNT", "5")));
        Assert.Contains("DARCOT_SHARD_COUNT='-3'", EnvError(("JOB_COMPLETION_INDEX", "0"), ("DARCOT_SHARD_COUNT", "-3")));
        Assert.Contains("DARCOT_SHARD_COUNT=0 must be at least 1", EnvError(("JOB_COMPLETION_INDEX", "0"), ("DARCOT_SHARD_COUNT", "0")));
    }

    [Fact]
    public void Slurm_array_task_relative_to_the_arrays_first_index()
    {
        var env = new[] { ("SLURM_ARRAY_TASK_ID", "13"), ("SLURM_ARRAY_TASK_MIN", "10"), ("SLURM_ARRAY_TASK_COUNT", "4") };
        Assert.Equal(new ShardSpec(3, 4), FromEnv(env)!.Value.Spec);
        Assert.Equal(new ShardSpec(0, 8), FromEnv(("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_COUNT", "8"))!.Value.Spec);
    }

    [Fact]
    public void Slurm_errors_name_the_variable()
    {
        // --array=0-6:2 has 4 tasks with ids 0, 2, 4, 6: id 6 would be shard 6 of 4.
        var stepped = EnvError(("SLURM_ARRAY_TASK_ID", "6"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_COUNT", "4"));
        Assert.Contains("SLURM_ARRAY_TASK_ID=6 gives shard 6, outside 0..3", stepped);
        Assert.Contains("--array=0-3", stepped);
        Assert.Contains("SLURM_ARRAY_TASK_COUNT is not", EnvError(("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_MIN", "0")));
        Assert.Contains("SLURM_ARRAY_TASK_MIN is not", EnvError(("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_COUNT", "2")));
        Assert.Contains("SLURM_ARRAY_TASK_MIN='x'", EnvError(("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_MIN", "x"), ("SLURM_ARRAY_TASK_COUNT", "2")));
        Assert.Contains("gives shard -1", EnvError(("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_MIN", "5"), ("SLURM_ARRAY_TASK_COUNT", "2")));
    }

    [Fact]
    public void No_scheduler_variables_means_no_shard_and_Kubernetes_wins_over_Slurm()
    {
        Assert.Null(FromEnv());
        Assert.Null(FromEnv(("JOB_COMPLETION_INDEX", " "), ("DARCOT_SHARD_COUNT", "4")));
        var both = FromEnv(("JOB_COMPLETION_INDEX", "1"), ("DARCOT_SHARD_COUNT", "3"), ("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_COUNT", "2"));
        Assert.Equal(new ShardSpec(1, 3), both!.Value.Spec);
    }
}
