namespace DaRcot.Rec.Errors;

/// <summary>A shard selection (<c>K/N</c>, or the environment of a Kubernetes Indexed Job or a Slurm job array) or an
/// input manifest is invalid; the message names the variable, option or manifest line.</summary>
public sealed class ShardingException : DaRcotException
{
    /// <summary>Creates the exception with a message that names the problem.</summary>
    public ShardingException(string message) : base(message) { }
}
