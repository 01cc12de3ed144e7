namespace DaRcot.Rec.Errors;

/// <summary>A training setting (trainer option, data or potential field) is invalid; the message names the field.</summary>
public sealed class TrainingConfigException : DaRcotException
{
    /// <summary>The offending field, as written in a training configuration (e.g. <c>epochs</c>, <c>data.batch_size</c>).</summary>
    public string Field { get; }

    /// <summary>What is wrong with it (the message without the field).</summary>
    public string Reason { get; }

    /// <summary>Creates the exception for <paramref name="field"/>.</summary>
    public TrainingConfigException(string field, string reason) : base($"Invalid training setting '{field}': {reason}")
    {
        Field = field;
        Reason = reason;
    }
}
