package dataset

// File sources (CSV with any delimiter, JSON lines, Parquet, from file:// and
// hdfs:// paths, directories and globs) are datastream's bounded sources:
// datastream.ReadCSV, ReadJSONLines and ReadParquet (in progress on another
// branch). Until they are wrapped here as ReadCSV[T](env, path, ...) and
// friends, use FromStream(env, datastream.ReadX(env.DataStream(), ...)).
