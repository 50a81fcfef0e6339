/* model/arch.c: catalog names of architectures and tasks (see arch.h) */
#include "postgres.h"

#include "model/arch.h"
#include "model/handle.h"
#include "model/mlpmodel.h"

/* architecture from tfm.model.architecture: gpt2, mlp, else a BERT-family encoder (bert, distilbert, roberta, ...) */
TfmArch
TfmArchFromName(const char *architecture)
{
	return strcmp(architecture, "gpt2") == 0 ? TFM_ARCH_GPT2 :
		strcmp(architecture, TFM_MLP_BASE) == 0 ? TFM_ARCH_MLP : TFM_ARCH_BERT;
}

/* what an architecture is called in messages */
const char *
TfmArchTitle(TfmArch arch)
{
	return arch == TFM_ARCH_GPT2 ? "GPT-2 text generation" :
		arch == TFM_ARCH_MLP ? "feature-vector MLP" : "BERT-family encoder";
}

/* task from its catalog name */
TfmTask
TfmTaskFromName(const char *task)
{
	if (strcmp(task, "classification") == 0)
		return TFM_TASK_CLASSIFICATION;
	if (strcmp(task, "regression") == 0)
		return TFM_TASK_REGRESSION;
	if (strcmp(task, "generation") == 0)
		return TFM_TASK_GENERATION;
	if (strcmp(task, "cross-encoder") == 0)
		return TFM_TASK_CROSS_ENCODER;
	return TFM_TASK_EMBEDDING;
}

/* catalog name of a task */
const char *
TfmTaskName(TfmTask task)
{
	return task == TFM_TASK_CLASSIFICATION ? "classification" :
		task == TFM_TASK_REGRESSION ? "regression" :
		task == TFM_TASK_GENERATION ? "generation" :
		task == TFM_TASK_CROSS_ENCODER ? "cross-encoder" : "embedding";
}

/* refuse a model of another architecture than a function runs (e.g. tfm_embed on GPT-2) */
void
TfmRequireArch(const TfmModel *m, TfmArch arch, const char *fn)
{
	if (m->arch != arch)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
						errmsg("model \"%s\" is a %s model, %s needs a %s model", m->name,
							   TfmArchTitle(m->arch), fn, arch == TFM_ARCH_GPT2 ? "GPT-2" : TfmArchTitle(arch)),
						errhint("%s", arch == TFM_ARCH_GPT2 ? "Import a GPT-2 model (config.json model_type \"gpt2\") for tfm_generate." :
								arch == TFM_ARCH_MLP ? "Pass the features as real[] or float8[] to a model trained with tfm_train(name, 'mlp', ...)." :
								m->arch == TFM_ARCH_MLP ? "An MLP reads feature vectors: pass a real[] or float8[] instead of text." :
								"Use tfm_generate() or tfm_tokenize() with GPT-2 models.")));
}
