# syntax=docker/dockerfile:1
# The llf image: Airflow 3.3 + the pinned runtime requirements + the llf package + a python3 kernel for
# papermill (target `airflow`); target `jupyter` adds JupyterLab on top, so notebooks are authored with
# exactly the libraries they later run with.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11

FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION} AS airflow
ARG AIRFLOW_VERSION
# Kernels live outside $HOME so they are found whatever uid compose runs the container as.
ENV JUPYTER_PATH=/opt/llf/jupyter/share/jupyter

USER root
# /opt/airflow/llf: LLF_STATE_DIR, whose volume starts as a copy of this folder (owner, group-writable, closed to
# others: notebook kernels run under their streams' own users, which must not read or write llf's state); the task
# logs' volume likewise (a kernel reads no other task's log).
RUN mkdir -p /opt/llf/jupyter /opt/airflow/auth /opt/airflow/llf /opt/airflow/logs \
 && chown -R airflow:0 /opt/llf /opt/airflow/auth /opt/airflow/llf \
 && chmod -R g+rwX /opt/llf /opt/airflow/auth /opt/airflow/llf \
 && chmod -R o-rwx /opt/airflow/llf /opt/airflow/logs
USER airflow

COPY --chown=airflow:0 requirements.txt /opt/llf/requirements.txt
# apache-airflow==<base version> keeps pip from up- or downgrading Airflow while resolving the rest.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /opt/llf/requirements.txt

COPY --chown=airflow:0 pyproject.toml README.md /opt/llf/src/
COPY --chown=airflow:0 llf /opt/llf/src/llf
# The package data llf/examples/* and llf/scaffold/dags are links to these folders (one copy of each file in the
# repository): beside llf/ in the source tree, so the install below finds what they point at (`llf init`).
COPY --chown=airflow:0 notebooks/examples /opt/llf/src/notebooks/examples
COPY --chown=airflow:0 control_sql/examples /opt/llf/src/control_sql/examples
COPY --chown=airflow:0 dags /opt/llf/src/dags
RUN pip install --no-cache-dir --no-deps /opt/llf/src \
 && python -m ipykernel install --prefix /opt/llf/jupyter --name python3 --display-name "Python 3 (llf)" \
 && llf --help > /dev/null \
 && llf init /tmp/llf-init-check > /dev/null && rm -rf /tmp/llf-init-check
# Kernels run under their streams' own users (llf/runner/kernel_user.py): they must run this Python and import
# its packages, never change them. Others may read and pass through every folder on the way, and write none.
USER root
RUN for folder in "$(python -c 'import site; print(site.getusersitepackages())')" \
        "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" /opt/llf; do \
      [ -e "$folder" ] && chmod -R o+rX,o-w "$folder"; \
      while [ "$folder" != / ]; do chmod o+x "$folder"; folder=$(dirname "$folder"); done; \
    done
USER airflow

FROM airflow AS jupyter
ARG AIRFLOW_VERSION
ARG JUPYTERLAB_VERSION=4.6.6
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" "jupyterlab==${JUPYTERLAB_VERSION}"
# compose may run this under any uid (AIRFLOW_UID): keep Jupyter's runtime files in the group-0 home
ENV HOME=/home/airflow
EXPOSE 8888
ENTRYPOINT ["/usr/bin/dumb-init", "--"]
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--ServerApp.root_dir=/opt/airflow/notebooks"]
